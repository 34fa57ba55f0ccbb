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

// guestEnergy scrapes a guest's package energy in J.
func guestEnergy(g *guest) (float64, error) {
	ss, err := scrape(g.Endpoint())
	if err != nil {
		return 0, err
	}
	v, n := sum(ss, "virtwatt_vm_energy_joules_total", map[string]string{"zone": "package", "method": "measured"})
	if n != 1 {
		return 0, fmt.Errorf("%s: %d measured package energy series", g.Name, n)
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
	// it must stay within what the VM's own power, before the kill or once
	// settled after the restart (the busy VM's power follows how much CPU
	// the loaded machine gives it), explains over the time elapsed (+50 %,
	// one tick, 0.5 J); a re-added or re-based counter (hundreds of J here)
	// exceeds that.
	settled := tUp.Add(max(resumed[e.a], resumed[e.b]) + tick)
	time.Sleep(time.Until(settled.Add(4 * tick)))
	span := time.Since(tKill) + 12*time.Second
	// The measured series: a guest that saw its share stale for 3 host
	// intervals while the host was down estimates meanwhile, in series of
	// their own (method="estimated"), which AfterRestarts checks too.
	r, err := promQuery(e.prom, fmt.Sprintf(`virtwatt_vm_energy_joules_total{method="measured"}[%ds]`, int(span.Seconds())+1), time.Time{})
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
		pre := (s.Values[p] - s.Values[0]) / (s.Times[p] - s.Times[0])
		q := -1 // first sample once settled after the restart
		for i := len(s.Times) - 1; i >= 0 && s.Times[i] >= float64(settled.UnixNano())/1e9; i-- {
			q = i
		}
		if q < 0 || q >= len(s.Times)-2 {
			t.Errorf("%s: fewer than 3 samples after the restart settled", name)
			continue
		}
		last := len(s.Times) - 1
		post := (s.Values[last] - s.Values[q]) / (s.Times[last] - s.Times[q])
		rate := math.Max(pre, post)
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
				t.Errorf("%s: +%.3f J in the %.1f s since the last pre-kill sample (at %+.1f s from the kill); the VM's power (%.2f W before, %.2f W after) allows %.3f J",
					name, dv, dt, s.Times[i]-kill, pre, post, bound)
			}
			worst = math.Max(worst, dv/dt)
		}
		e.s.logf("%s across the host restart: %.2f W before, %.2f W after; since the last pre-kill sample at most %.2f W on average; %d samples",
			name, pre, post, worst, len(s.Values))
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
	// One measured series per guest and zone. A guest whose share went
	// stale for 3 host intervals during libvirtd's restart also has
	// estimated series (method="estimated", model="ccf"): counted apart,
	// and they too must never reset.
	measured := 0
	for _, s := range r {
		if s.Labels["method"] == "measured" {
			measured++
		}
	}
	if measured != 2*len(countedZones) {
		t.Errorf("resets(): %d measured series (of %d), want %d", measured, len(r), 2*len(countedZones))
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
	// Every fake counter wraps once per wrapEvery at its nominal power (±5 %
	// noise). More wraps mean the fake meter itself ran fast, wrapping
	// between host ticks: no meter can follow that, and the energy checks
	// above say nothing about virtwatt then.
	if most := int(1.1*time.Since(e.meter.started).Seconds()/wrapEvery.Seconds()) + 1; wraps["intel-rapl:0"] > most || wraps["intel-rapl:1:1"] > most {
		t.Errorf("the fake counters wrapped %v times in %v, at most %d expected at their nominal power: the fake meter ran fast", wraps,
			time.Since(e.meter.started).Round(time.Second), most)
	}
}
