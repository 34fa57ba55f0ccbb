//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

var countedZones = []string{"package", "dram"}

// targetsUp: up == 1 for the host agent and both guest agents.
func (e *env) targetsUp(t *testing.T) {
	r, err := promQuery(e.prom, "up", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	up := byLabel(r, "job")
	for _, job := range []string{"virtwatt-host", e.a.Job, e.b.Job} {
		if v, ok := up[job]; !ok || v != 1 {
			t.Errorf("up{job=%q} = %v (present %v), want 1", job, v, ok)
		}
	}
	if len(up) != 3 {
		t.Errorf("up has %d series, want 3: %v", len(up), up)
	}
}

// readOnlyShares: each guest mounted its share read-only.
func (e *env) readOnlyShares(t *testing.T) {
	for _, g := range []*guest{e.a, e.b} {
		line := consoleLine(g, "VW-MOUNT-OK")
		if !strings.Contains(line, "VW-MOUNT-OK "+g.FS) || !strings.Contains(line, " ro,") {
			t.Errorf("%s: want a read-only %s mount at /mnt/virtwatt, console says %q", g.Name, g.FS, line)
		}
	}
}

// hostWriteReachesGuest follows successive records the host writes into
// each share and times how long each takes to show in the guest's metrics
// (the guest exports the record's timestamp). When it shows, the guest's
// energy must equal the record's exactly, and the host endpoint must not
// be more than one tick ahead of it.
func (e *env) hostWriteReachesGuest(t *testing.T) {
	const writes = 6
	for _, g := range []*guest{e.a, e.b} {
		t.Run(g.FS, func(t *testing.T) {
			t.Parallel()
			recPath := filepath.Join(g.ShareDir, "virtwatt.json")
			prev, err := readRecord(recPath)
			if err != nil {
				t.Fatalf("host record: %v", err)
			}
			var lats []time.Duration
			maxLag := 0
			for i := 0; i < writes; i++ {
				var rec shareRecord
				var wrote time.Time
				if !waitFor(3*tick, 5*time.Millisecond, func() bool {
					r, err := readRecord(recPath)
					if err == nil && r.Sequence != prev.Sequence {
						rec, wrote = r, time.Now()
						return true
					}
					return false
				}) {
					t.Fatalf("%s: no new record (sequence after %d) within 3 ticks", recPath, prev.Sequence)
				}
				prev = rec
				want := float64(rec.Timestamp.UnixNano()) / 1e9
				var ss []series
				var seen time.Time
				if !waitFor(5*time.Second, 20*time.Millisecond, func() bool {
					got, err := scrape(g.Endpoint())
					if err != nil {
						return false
					}
					ts, n := sum(got, "virtwatt_share_last_update_timestamp_seconds", nil)
					if n == 1 && ts >= want-1e-3 {
						ss, seen = got, time.Now()
						return true
					}
					return false
				}) {
					t.Fatalf("record %d (timestamp %v) not visible in %s within 5 s", rec.Sequence, rec.Timestamp, g.Endpoint())
				}
				lats = append(lats, seen.Sub(wrote))
				if ts, _ := sum(ss, "virtwatt_share_last_update_timestamp_seconds", nil); math.Abs(ts-want) > 1e-3 {
					continue // the guest already shows a newer record: no exact comparison for this one
				}
				for _, z := range countedZones {
					got, n := sumUJ(ss, "virtwatt_vm_energy_joules_total", map[string]string{"zone": z})
					w := int64(rec.Zones[z].UsageUJ + rec.Zones[z].IdleUJ)
					if n != 1 || got != w {
						t.Errorf("record %d zone %s: guest energy %d µJ (%d series), host record %d µJ", rec.Sequence, z, got, n, w)
						continue
					}
					// The host may publish its endpoint a moment after the share: give
					// the 100 ms history poller time to catch up before looking.
					time.Sleep(time.Until(seen.Add(300 * time.Millisecond)))
					lag, found, recent := e.history.lag(g.Name, z, got, seen)
					if !found {
						t.Errorf("zone %s: guest energy %d µJ never appeared on the host endpoint (recent host values %v)", z, got, recent)
					} else if lag > 1 {
						t.Errorf("zone %s: guest energy %d µJ is %d host ticks behind, want at most 1", z, got, lag)
					}
					maxLag = max(maxLag, lag)
				}
			}
			e.s.logf("host write → guest metric over %s (%s, guest polls every %v): %s; guest at most %d tick(s) behind the host endpoint",
				g.FS, g.Name, guestPoll, stats(lats), maxLag)
			for _, l := range lats {
				if l > 2*guestPoll {
					t.Errorf("over %s a host write took %v to reach the guest's metrics, want at most 2 poll intervals (%v)", g.FS, l, 2*guestPoll)
				}
			}
		})
	}
}

// conservation: for each counted zone, Σ domains and parts + unattributed
// == Σ sockets of host energy, exactly in µJ, from the host endpoint and
// through PromQL; and the host's power matches the fake meter's.
func (e *env) conservation(t *testing.T) {
	for i := 0; i < 5; i++ {
		ss, err := scrape(e.hostURL)
		if err != nil {
			t.Fatal(err)
		}
		e.checkConservation(t, ss)
		for _, z := range []struct {
			zone string
			w    float64
		}{{"package", hostPkgW}, {"dram", dramW * sockets}} {
			p, n := sum(ss, "virtwatt_host_power_watts", map[string]string{"zone": z.zone})
			if n != 1 || p < 0.85*z.w || p > 1.15*z.w {
				t.Errorf("virtwatt_host_power_watts{zone=%q} = %.2f W (%d series), the fake meter runs at %.0f W ±5 %%", z.zone, p, n, z.w)
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	r, err := promQuery(e.prom, `sum by (zone) (virtwatt_domain_energy_joules_total)
		+ on (zone) sum by (zone) (virtwatt_host_unattributed_energy_joules_total)
		- on (zone) sum by (zone) (virtwatt_host_energy_joules_total{zone=~"package|dram"})`, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r) != len(countedZones) {
		t.Errorf("PromQL conservation: %d zones, want %d: %v", len(r), len(countedZones), r)
	}
	for _, s := range r {
		if math.Abs(s.Value()) > 1e-6 {
			t.Errorf("PromQL: zone %s: Σ domains + unattributed − host energy = %g J, want 0", s.Labels["zone"], s.Value())
		}
	}
}

func (e *env) checkConservation(t *testing.T, ss []series) {
	t.Helper()
	for _, z := range countedZones {
		host, nh := sumUJ(ss, "virtwatt_host_energy_joules_total", map[string]string{"zone": z})
		dom, nd := sumUJ(ss, "virtwatt_domain_energy_joules_total", map[string]string{"zone": z})
		un, nu := sumUJ(ss, "virtwatt_host_unattributed_energy_joules_total", map[string]string{"zone": z})
		if nh != sockets || nd != 4 || nu != 1 {
			t.Errorf("zone %s: %d host (want %d sockets), %d domain (want 2 domains × 2 parts), %d unattributed series",
				z, nh, sockets, nd, nu)
		}
		if dom+un != host {
			t.Errorf("zone %s: Σ domains %d µJ + unattributed %d µJ = %d µJ, host energy %d µJ (off by %d µJ)",
				z, dom, un, dom+un, host, dom+un-host)
		}
	}
}

// emissions: emissions == energy (kWh, all counted zones) × intensity × PUE,
// from each guest endpoint and through PromQL.
func (e *env) emissions(t *testing.T) {
	check := func(where string, energyJ, grams, gotPUE, gotIntensity float64) {
		t.Helper()
		if gotPUE != pue || gotIntensity != intensity {
			t.Errorf("%s: PUE %v, intensity %v g/kWh; the guest was started with %v and %v", where, gotPUE, gotIntensity, pue, intensity)
		}
		want := energyJ / 3.6e6 * intensity * pue
		if energyJ <= 0 || math.Abs(grams-want) > 1e-9*math.Max(want, 1e-3) {
			t.Errorf("%s: emissions %.12g g, energy %.6f J × %v g/kWh × PUE %v = %.12g g", where, grams, energyJ, intensity, pue, want)
		}
	}
	for _, g := range []*guest{e.a, e.b} {
		ss, err := scrape(g.Endpoint())
		if err != nil {
			t.Fatal(err)
		}
		energy, _ := sum(ss, "virtwatt_vm_energy_joules_total", nil)
		grams, n := sum(ss, "virtwatt_vm_emissions_grams_total", nil)
		p, _ := sum(ss, "virtwatt_pue", nil)
		ci, _ := sum(ss, "virtwatt_carbon_intensity_grams_per_kwh", nil)
		if n != 1 {
			t.Errorf("%s: %d emissions series", g.Name, n)
		}
		check(g.Name+" endpoint", energy, grams, p, ci)
	}
	at := time.Now().Add(-2 * time.Second) // every series of a job from the same scrape
	q := func(expr string) map[string]float64 {
		r, err := promQuery(e.prom, expr, at)
		if err != nil {
			t.Fatal(err)
		}
		return byLabel(r, "job")
	}
	energy := q(`sum by (job) (virtwatt_vm_energy_joules_total)`)
	grams := q(`sum by (job) (virtwatt_vm_emissions_grams_total)`)
	p := q(`max by (job) (virtwatt_pue)`)
	ci := q(`max by (job) (virtwatt_carbon_intensity_grams_per_kwh)`)
	for _, g := range []*guest{e.a, e.b} {
		check(g.Job+" via PromQL", energy[g.Job], grams[g.Job], p[g.Job], ci[g.Job])
	}
}

// busySplit: over the busy period A (busy loop) got more than 5× B's
// energy, in the guests' own metrics and in the host's attribution; and
// the host's energy over it matches the fake meter's power across wraps.
func (e *env) busySplit(t *testing.T, busyFrom time.Time) {
	const window = 20 * time.Second
	t1 := busyFrom.Add(tick)
	if d := time.Until(t1.Add(window + 2*time.Second)); d > 0 {
		e.s.logf("busy split: waiting %v more for a %v window", d.Round(100*time.Millisecond), window)
		time.Sleep(d)
	}
	t2 := t1.Add(window)
	delta := func(expr, label string) map[string]float64 {
		r1, err1 := promQuery(e.prom, expr, t1)
		r2, err2 := promQuery(e.prom, expr, t2)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		v1, v2 := byLabel(r1, label), byLabel(r2, label)
		d := map[string]float64{}
		for k, v := range v2 {
			d[k] = v - v1[k]
		}
		return d
	}
	secs := window.Seconds()
	guestE := delta(`sum by (job) (virtwatt_vm_energy_joules_total)`, "job")
	hostE := delta(`sum by (domain) (virtwatt_domain_energy_joules_total)`, "domain")
	cpu := delta(`virtwatt_domain_cpu_seconds_total`, "domain")
	hostPkg := delta(`sum by (zone) (virtwatt_host_energy_joules_total)`, "zone")
	e.s.logf("busy split over %v: guest metrics A %.1f J (%.2f W), B %.1f J (%.2f W), ratio %.1f; host attribution A %.1f J, B %.1f J; vCPU s A %.2f, B %.2f; host package %.1f J (%.1f W), dram %.1f J",
		window, guestE[e.a.Job], guestE[e.a.Job]/secs, guestE[e.b.Job], guestE[e.b.Job]/secs, guestE[e.a.Job]/guestE[e.b.Job],
		hostE[e.a.Name], hostE[e.b.Name], cpu[e.a.Name], cpu[e.b.Name], hostPkg["package"], hostPkg["package"]/secs, hostPkg["dram"])
	for _, c := range []struct {
		view string
		a, b float64
	}{{"guest metrics", guestE[e.a.Job], guestE[e.b.Job]}, {"host attribution", hostE[e.a.Name], hostE[e.b.Name]}} {
		if !(c.a > 5*c.b) || c.a <= 0 || c.b < 0 {
			t.Errorf("%s: busy A got %.3f J, idle B %.3f J over %v; want A > 5 × B", c.view, c.a, c.b, window)
		}
	}
	for _, z := range []struct {
		zone string
		w    float64
	}{{"package", hostPkgW}, {"dram", dramW * sockets}} {
		got, want := hostPkg[z.zone], z.w*secs
		if math.Abs(got-want) > 0.1*want {
			t.Errorf("host %s energy over %v = %.1f J, the fake meter gave about %.0f J (±10 %%); wraps mishandled?", z.zone, window, got, want)
		}
	}
}

// guestEnergy scrapes a guest's package energy in J.
func guestEnergy(g *guest) (float64, error) {
	ss, err := scrape(g.Endpoint())
	if err != nil {
		return 0, err
	}
	v, n := sum(ss, "virtwatt_vm_energy_joules_total", map[string]string{"zone": "package"})
	if n != 1 {
		return 0, fmt.Errorf("%s: %d package energy series", g.Name, n)
	}
	return v, nil
}

// hostKillRestart: SIGKILL virtwatt-host, restart it on its state file;
// the guests' counters go on with no reset and no jump, under the same
// share instance.
func (e *env) hostKillRestart(t *testing.T) {
	recA := filepath.Join(e.a.ShareDir, "virtwatt.json")
	before, err := readRecord(recA)
	if err != nil {
		t.Fatal(err)
	}
	g0 := map[*guest]float64{}
	for _, g := range []*guest{e.a, e.b} {
		if g0[g], err = guestEnergy(g); err != nil {
			t.Fatal(err)
		}
	}
	hostBefore, err := scrape(e.hostURL)
	if err != nil {
		t.Fatal(err)
	}
	tKill := time.Now()
	if err := e.host.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-e.host.done
	e.s.logf("virtwatt-host killed with SIGKILL; restarting it in %v", 2*tick)
	time.Sleep(2 * tick)
	e.startHost()
	tUp := time.Now()
	resumed := map[*guest]time.Duration{}
	if !waitFor(15*time.Second, 50*time.Millisecond, func() bool {
		for _, g := range []*guest{e.a, e.b} {
			if _, ok := resumed[g]; ok {
				continue
			}
			if v, err := guestEnergy(g); err == nil && v > g0[g] {
				resumed[g] = time.Since(tUp)
			}
		}
		return len(resumed) == 2
	}) {
		t.Fatalf("guest counters did not advance within 15 s of the host's restart (resumed: %v)", resumed)
	}
	e.s.logf("after the restart the guests' counters advance again: A after %v, B after %v",
		resumed[e.a].Round(time.Millisecond), resumed[e.b].Round(time.Millisecond))

	after, err := readRecord(recA)
	if err != nil {
		t.Fatal(err)
	}
	if after.Instance != before.Instance {
		t.Errorf("share instance changed across a restart on the same state file: %q → %q", before.Instance, after.Instance)
	}
	hostAfter, err := scrape(e.hostURL)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []*guest{e.a, e.b} {
		b, _ := sumUJ(hostBefore, "virtwatt_domain_energy_joules_total", map[string]string{"domain": g.Name})
		a, _ := sumUJ(hostAfter, "virtwatt_domain_energy_joules_total", map[string]string{"domain": g.Name})
		if a < b {
			t.Errorf("host energy of %s went back across the restart: %d → %d µJ (state file not used?)", g.Name, b, a)
		}
	}
	e.checkConservation(t, hostAfter)

	// Let Prometheus scrape a few ticks past the restart, then read the raw
	// samples around it. No sample may go down. The host may legitimately
	// attribute the energy of its downtime at its first tick back, so a
	// "jump" is judged on the energy since the last sample before the kill:
	// it must stay within what the VM's pre-kill power explains over the
	// time elapsed (+50 %, one tick, 0.5 J), which a re-added or re-based
	// counter (hundreds of J here) exceeds.
	time.Sleep(3 * tick)
	span := time.Since(tKill) + 12*time.Second
	r, err := promQuery(e.prom, fmt.Sprintf(`virtwatt_vm_energy_joules_total[%ds]`, int(span.Seconds())+1), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r) != 2*len(countedZones) {
		t.Errorf("%d guest energy series, want %d", len(r), 2*len(countedZones))
	}
	kill := float64(tKill.UnixNano()) / 1e9
	for _, s := range r {
		name := s.Labels["job"] + "/" + s.Labels["zone"]
		p := -1 // last sample before the kill
		for i := range s.Times {
			if s.Times[i] < kill {
				p = i
			}
		}
		if p < 4 {
			t.Errorf("%s: only %d samples before the kill", name, p+1)
			continue
		}
		rate := (s.Values[p] - s.Values[0]) / (s.Times[p] - s.Times[0])
		worst := 0.0
		for i := 1; i < len(s.Values); i++ {
			if s.Values[i] < s.Values[i-1] {
				t.Errorf("%s: counter went back from %.6f to %.6f J at %+.1f s from the kill (reset)", name, s.Values[i-1], s.Values[i], s.Times[i]-kill)
			}
			if i <= p {
				continue
			}
			dv, dt := s.Values[i]-s.Values[p], s.Times[i]-s.Times[p]
			if bound := 1.5*rate*(dt+tick.Seconds()) + 0.5; dv > bound {
				t.Errorf("%s: +%.3f J in the %.1f s since the last pre-kill sample (at %+.1f s from the kill); pre-kill power %.2f W allows %.3f J",
					name, dv, dt, s.Times[i]-kill, rate, bound)
			}
			worst = math.Max(worst, dv/dt)
		}
		e.s.logf("%s across the host restart: pre-kill %.2f W; since the last pre-kill sample at most %.2f W on average; %d samples",
			name, rate, worst, len(s.Values))
	}
	r, err = promQuery(e.prom, fmt.Sprintf(`max by (job) (max_over_time(virtwatt_vm_power_watts{zone="package"}[%ds]))`, int(span.Seconds())+1), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range r {
		if s.Value() > 1.2*hostPkgW {
			t.Errorf("%s: virtwatt_vm_power_watts reached %.1f W around the restart; the whole host draws %.0f W", s.Labels["job"], s.Value(), hostPkgW)
		}
	}
}

// libvirtdRestart: restart libvirtd under the running host agent and
// guests; the host attributes vCPU time again within 3 ticks of libvirtd
// answering.
func (e *env) libvirtdRestart(t *testing.T) {
	ctx := context.Background()
	t0 := time.Now()
	if err := e.s.restartLibvirtd(ctx, e.libvirtd); err != nil {
		t.Fatal(err)
	}
	tUp := time.Now()
	e.s.logf("libvirtd restarted in %v", tUp.Sub(t0).Round(time.Millisecond))
	ss, err := scrape(e.hostURL)
	if err != nil {
		t.Fatal(err)
	}
	match := map[string]string{"domain": e.a.Name}
	cpu0, _ := sum(ss, "virtwatt_domain_cpu_seconds_total", match)
	use0, _ := sumUJ(ss, "virtwatt_domain_energy_joules_total", map[string]string{"domain": e.a.Name, "part": "usage"})
	var resumed time.Duration
	if !waitFor(20*time.Second, 50*time.Millisecond, func() bool {
		ss, err := scrape(e.hostURL)
		if err != nil {
			return false
		}
		cpu, _ := sum(ss, "virtwatt_domain_cpu_seconds_total", match)
		use, _ := sumUJ(ss, "virtwatt_domain_energy_joules_total", map[string]string{"domain": e.a.Name, "part": "usage"})
		if cpu > cpu0 && use > use0 {
			resumed = time.Since(tUp)
			return true
		}
		return false
	}) {
		t.Fatalf("no attribution to %s within 20 s of libvirtd answering again:\n%s", e.a.Name, tail(e.host.log, 20))
	}
	e.s.logf("attribution resumed %v after libvirtd answered (%.1f ticks)", resumed.Round(time.Millisecond), resumed.Seconds()/tick.Seconds())
	if limit := 3*tick + 200*time.Millisecond; resumed > limit {
		t.Errorf("attribution resumed %v after libvirtd's restart, want within 3 ticks (%v, with 200 ms for polling)", resumed, 3*tick)
	}
	for _, g := range []*guest{e.a, e.b} {
		out, err := virsh(ctx, "domstate", g.Name)
		if err != nil || strings.TrimSpace(out) != "running" {
			t.Errorf("%s after libvirtd's restart: %q %v, want running", g.Name, strings.TrimSpace(out), err)
		}
	}
}

// afterRestarts: everything is up again, no guest counter ever reset, the
// books still balance, and the fake meter did wrap during the run.
func (e *env) afterRestarts(t *testing.T) {
	if !waitFor(10*time.Second, 250*time.Millisecond, func() bool {
		r, err := promQuery(e.prom, `sum(up) == 3 and sum(virtwatt_share_up) == 2`, time.Time{})
		return err == nil && len(r) == 1
	}) {
		r, _ := promQuery(e.prom, `up or virtwatt_share_up`, time.Time{})
		t.Errorf("not everything up 10 s after the restarts: %v", r)
	}
	span := int(time.Since(e.s.start).Seconds()) + 1
	r, err := promQuery(e.prom, fmt.Sprintf(`resets(virtwatt_vm_energy_joules_total[%ds])`, span), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r) != 2*len(countedZones) {
		t.Errorf("resets(): %d series, want %d", len(r), 2*len(countedZones))
	}
	for _, s := range r {
		if s.Value() != 0 {
			t.Errorf("%s zone %s: %v counter resets during the run", s.Labels["job"], s.Labels["zone"], s.Value())
		}
	}
	ss, err := scrape(e.hostURL)
	if err != nil {
		t.Fatal(err)
	}
	e.checkConservation(t, ss)
	_, wraps := e.tree.Totals()
	e.s.logf("fake meter wraps during the run: %v", wraps)
	if wraps["intel-rapl:0"] < 2 || wraps["intel-rapl:1:1"] < 2 {
		t.Errorf("the fake counters wrapped %v times; the run must cross wraps", wraps)
	}
}
