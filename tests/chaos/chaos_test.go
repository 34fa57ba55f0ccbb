// Package chaos drives the real binaries through the faults a careless
// operator and a hostile tenant bring: a host under a low file-descriptor
// limit with hundreds of idle scrapers, a second instance on the same paths,
// fast reboots (RAPL counters restarted near zero, with and without a new
// boot id), and a guest fed a hostile share. Throughout, the share's
// sequence keeps advancing, no counter goes back, and no energy appears
// that the fake meter did not produce.
//
// The host runs on libvirt's test:///default driver (one running domain,
// "test", with no CPU statistics: it gets its share of idle energy) and a
// fake powercap tree; the guest follows that domain's real share.
package chaos

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/share"
	"github.com/virtwatt/virtwatt/tests/fakerapl"
	"github.com/virtwatt/virtwatt/tests/testbin"
)

const (
	interval  = 250 * time.Millisecond
	pkgW      = 40.0
	dramW     = 4.0
	realRange = 262143328850 // a real package counter's max_energy_range_uj
	domain    = "test"       // test:///default's running domain
)

// rig is the host side of the chaos run: fake meter, fake /proc, paths.
type rig struct {
	t                     *testing.T
	dir, shares, state    string
	proc, addr, hostBin   string
	tree                  *fakerapl.Tree
	stop                  chan struct{}
	stepped               chan struct{}
	prlimit               string
	lastSeq               uint64
	lastInstance          string
	lastPkgUJ, lastDramUJ uint64
	records               int
}

func newRig(t *testing.T, hostBin string) *rig {
	t.Helper()
	dir := t.TempDir()
	r := &rig{t: t, dir: dir, shares: filepath.Join(dir, "vms"), state: filepath.Join(dir, "state.json"),
		proc: filepath.Join(dir, "proc"), addr: testbin.FreePort(t), hostBin: hostBin,
		stop: make(chan struct{}), stepped: make(chan struct{})}
	specs := []fakerapl.ZoneSpec{
		{Socket: 0, Sub: -1, Name: "package-0", PowerW: pkgW, MaxRangeUJ: realRange},
		{Socket: 0, Sub: 1, Name: "dram", PowerW: dramW, MaxRangeUJ: 65712999613},
	}
	base := filepath.Join(dir, "sys")
	if err := os.MkdirAll(base, 0o755); err != nil {
		t.Fatal(err)
	}
	tree, err := fakerapl.New(base, specs, 0.05, 7)
	if err != nil {
		t.Fatal(err)
	}
	r.tree = tree
	// Start from a counter far from zero, as a host that has been up a while.
	if err := tree.Reset(realRange / 2); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(r.proc, "sys", "kernel", "random"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A 2-CPU host, half busy; static is enough (the split is by vCPUs here).
	stat := "cpu  1000 0 1000 2000 0 0 0 0 0 0\ncpu0 500 0 500 1000 0 0 0 0 0 0\ncpu1 500 0 500 1000 0 0 0 0 0 0\n"
	if err := os.WriteFile(filepath.Join(r.proc, "stat"), []byte(stat), 0o644); err != nil {
		t.Fatal(err)
	}
	r.setBootID("9c6f2c8e-0000-4000-8000-000000000001")
	go func() {
		tk := time.NewTicker(50 * time.Millisecond)
		defer tk.Stop()
		last := time.Now()
		for {
			select {
			case <-r.stop:
				close(r.stepped)
				return
			case now := <-tk.C:
				if err := tree.Step(now.Sub(last)); err != nil {
					panic(err)
				}
				last = now
			}
		}
	}()
	t.Cleanup(func() { close(r.stop); <-r.stepped })
	if p, err := exec.LookPath("prlimit"); err == nil {
		r.prlimit = p
	} else if os.Getenv("VIRTWATT_REQUIRE_TOOLS") != "" {
		t.Fatal("prlimit (util-linux) is required for the low fd limit")
	}
	return r
}

func (r *rig) setBootID(id string) {
	r.t.Helper()
	if err := os.WriteFile(filepath.Join(r.proc, "sys", "kernel", "random", "boot_id"), []byte(id+"\n"), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// startHost starts virtwatt-host on the rig's paths, under a 256-fd limit
// when prlimit is there.
func (r *rig) startHost(addr string) *testbin.Proc {
	r.t.Helper()
	argv := []string{r.hostBin, "--libvirt-uri", "test:///default", "--meter", "powercap",
		"--powercap-root", r.tree.Root(), "--proc-root", r.proc, "--share-root", r.shares,
		"--state-file", r.state, "--web.listen-address", addr, "--interval", interval.String(), "--web.max-connections", "64"}
	if r.prlimit != "" {
		argv = append([]string{r.prlimit, "--nofile=256:256", "--"}, argv...)
	}
	return testbin.Start(r.t, argv...)
}

// record reads the domain's record and checks it against the last one:
// within an instance the sequence and every counter only go up.
func (r *rig) record(t testing.TB) *share.Record {
	t.Helper()
	rec, err := share.ReadRecord(filepath.Join(r.shares, domain))
	if err != nil {
		return nil
	}
	pkg, dram := rec.Zones[share.ZonePackage].TotalUJ(), rec.Zones[share.ZoneDRAM].TotalUJ()
	if rec.Instance == r.lastInstance {
		if rec.Sequence < r.lastSeq || pkg < r.lastPkgUJ || dram < r.lastDramUJ {
			t.Fatalf("record went back within instance %s: seq %d→%d, package %d→%d µJ, dram %d→%d µJ",
				rec.Instance, r.lastSeq, rec.Sequence, r.lastPkgUJ, pkg, r.lastDramUJ, dram)
		}
	} else if r.lastInstance != "" {
		t.Fatalf("instance changed %s → %s: a restart must continue the counters", r.lastInstance, rec.Instance)
	}
	r.lastInstance, r.lastSeq, r.lastPkgUJ, r.lastDramUJ = rec.Instance, rec.Sequence, pkg, dram
	r.records++
	return rec
}

// advancing waits until the record's sequence has advanced n times,
// failing if it stalls for more than 8 ticks.
func (r *rig) advancing(t testing.TB, what string, n int) {
	t.Helper()
	r.record(t)
	start := r.lastSeq
	last, lastAt := r.lastSeq, time.Now()
	for r.lastSeq < start+uint64(n) {
		time.Sleep(interval / 5)
		r.record(t)
		if r.lastSeq != last {
			last, lastAt = r.lastSeq, time.Now()
		}
		if time.Since(lastAt) > 8*interval {
			t.Fatalf("%s: the share's sequence stopped at %d for %v", what, r.lastSeq, time.Since(lastAt).Round(time.Millisecond))
		}
	}
}

// hostEnergy is the host endpoint's cumulative energy per zone (J).
func hostEnergy(t testing.TB, addr string) (pkg, dram float64) {
	m := testbin.Scrape(t, addr)
	pkg, _ = testbin.Sum(m, "virtwatt_host_energy_joules_total", `zone="package"`)
	dram, _ = testbin.Sum(m, "virtwatt_host_energy_joules_total", `zone="dram"`)
	return pkg, dram
}

// truth is what the fake meter produced since the rig started (J).
func (r *rig) truth() (pkg, dram float64) {
	tot, _ := r.tree.Totals()
	return float64(tot["intel-rapl:0"]) / 1e6, float64(tot["intel-rapl:0:1"]) / 1e6
}

// noInvention checks that the host never counted more than was produced,
// and that its split closes per zone.
func (r *rig) noInvention(t testing.TB, what string) {
	t.Helper()
	tp, td := r.truth()
	m := testbin.Scrape(t, r.addr)
	for _, z := range []struct {
		zone  string
		truth float64
	}{{"package", tp}, {"dram", td}} {
		host, _ := testbin.Sum(m, "virtwatt_host_energy_joules_total", `zone="`+z.zone+`"`)
		if host > z.truth+1e-6 {
			t.Fatalf("%s: host counted %.3f J of %s, the meter produced only %.3f J: energy was invented", what, host, z.zone, z.truth)
		}
		vms, _ := testbin.Sum(m, "virtwatt_domain_energy_joules_total", `zone="`+z.zone+`"`)
		un, _ := testbin.Sum(m, "virtwatt_host_unattributed_energy_joules_total", `zone="`+z.zone+`"`)
		fo, _ := testbin.Sum(m, "virtwatt_host_forgotten_energy_joules_total", `zone="`+z.zone+`"`)
		pe, _ := testbin.Sum(m, "virtwatt_host_pending_energy_joules", `zone="`+z.zone+`"`)
		if d := math.Abs(vms + un + fo + pe - host); d > 1e-5 {
			t.Fatalf("%s: %s: VMs %.6f + host %.6f + forgotten %.6f + pending %.6f ≠ measured %.6f J", what, z.zone, vms, un, fo, pe, host)
		}
	}
}

func TestChaos(t *testing.T) {
	hostBin, guestBin := testbin.Build(t)
	r := newRig(t, hostBin)
	host := r.startHost(r.addr)
	testbin.WaitFor(t, "host endpoint", 15*time.Second, func() bool { return testbin.Up(r.addr) })
	testbin.WaitFor(t, "first record", 10*time.Second, func() bool { return r.record(t) != nil })

	// A guest follows the real share through everything below: its energy
	// counter must never go back.
	guestAddr := testbin.FreePort(t)
	testbin.Start(t, guestBin, "--share-dir", filepath.Join(r.shares, domain), "--web.listen-address", guestAddr,
		"--poll-interval", "100ms", "--top-processes", "0")
	testbin.WaitFor(t, "guest share_up", 15*time.Second, func() bool {
		return testbin.Up(guestAddr) && testbin.Scrape(t, guestAddr)["virtwatt_share_up"] == 1
	})
	var guestLast float64
	guestMonotone := func(what string) {
		t.Helper()
		e, n := testbin.Sum(testbin.Scrape(t, guestAddr), "virtwatt_vm_energy_joules_total")
		if n == 0 {
			t.Fatalf("%s: guest exports no energy", what)
		}
		if e < guestLast {
			t.Fatalf("%s: guest energy went back %.6f → %.6f J", what, guestLast, e)
		}
		guestLast = e
	}
	guestMonotone("start")

	t.Run("idle scrapers under a 256-fd limit", func(t *testing.T) {
		if r.prlimit == "" {
			t.Skip("prlimit missing: no fd limit to test under")
		}
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for i := range 300 {
			c, err := net.DialTimeout("tcp", r.addr, 2*time.Second)
			if err != nil {
				break // the backlog is full: that is the cap working
			}
			if i%2 == 0 { // half start a request and never finish it
				fmt.Fprintf(c, "GET /metrics HTTP/1.1\r\nHost: x\r\n")
			}
			conns = append(conns, c)
		}
		if len(conns) < 200 {
			t.Fatalf("only %d of 300 connections opened", len(conns))
		}
		r.advancing(t, "300 idle connections", 12)
		guestMonotone("idle scrapers")
		if strings.Contains(host.Log(), "too many open files") {
			t.Fatalf("the host ran out of file descriptors:\n%s", host.Log())
		}
	})
	// Once the idle ones are gone (closed here, or timed out), scrapes work.
	testbin.WaitFor(t, "endpoint after the idle connections", 20*time.Second, func() bool { return testbin.Up(r.addr) })
	r.noInvention(t, "after the scrapers")

	t.Run("second instance on the same paths", func(t *testing.T) {
		second := r.startHost(testbin.FreePort(t))
		code, exited := second.Wait(5 * time.Second)
		if !exited {
			t.Fatal("a second instance on the same state file and share root is still running after 5 s")
		}
		if code == 0 {
			t.Fatalf("the second instance exited 0; log:\n%s", second.Log())
		}
		if pid := fmt.Sprint(host.Cmd.Process.Pid); !strings.Contains(second.Log(), pid) {
			t.Fatalf("the second instance's error does not name the holder's PID %s:\n%s", pid, second.Log())
		}
		if !strings.Contains(second.Log(), "lock") {
			t.Fatalf("the second instance's error does not say the paths are locked:\n%s", second.Log())
		}
		r.advancing(t, "after the second instance", 4)
		guestMonotone("second instance")
	})
	r.noInvention(t, "after the second instance")

	reboot := func(t *testing.T, newBootID string) {
		t.Helper()
		_ = host.Cmd.Process.Kill()
		host.Wait(5 * time.Second)
		// The machine comes back: counters restart near zero.
		if err := r.tree.Reset(12345); err != nil {
			t.Fatal(err)
		}
		if newBootID != "" {
			r.setBootID(newBootID)
		}
		beforePkg, _ := r.truth()
		host = r.startHost(r.addr)
		testbin.WaitFor(t, "host endpoint after the reboot", 15*time.Second, func() bool { return testbin.Up(r.addr) })
		r.advancing(t, "after the reboot", 8)
		r.noInvention(t, "after the reboot")
		guestMonotone("reboot")
		// What the host counted since the restart is bounded by what the
		// meter produced since (plus the ticks just before the kill, which
		// a restart within the window may still measure).
		pkg, _ := hostEnergy(t, r.addr)
		tp, _ := r.truth()
		if pkg > tp+1e-6 {
			t.Fatalf("after the reboot the host counted %.3f J, the meter produced %.3f J", pkg, tp)
		}
		if tp-beforePkg < 0 {
			t.Fatal("truth went back")
		}
	}
	t.Run("fast reboot with a new boot id", func(t *testing.T) {
		reboot(t, "9c6f2c8e-0000-4000-8000-000000000002")
		if !strings.Contains(strings.ToLower(host.Log()), "boot") {
			t.Fatalf("the log does not say the host rebooted:\n%s", host.Log())
		}
	})
	t.Run("counters reset without a new boot id", func(t *testing.T) {
		reboot(t, "") // a driver reload: only plausibility can tell
	})

	t.Run("hostile share", func(t *testing.T) {
		hostileGuest(t, guestBin, r.dir)
	})

	// SIGTERM saves and exits 0.
	if err := host.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code, exited := host.Wait(10 * time.Second); !exited || (code != 0) {
		t.Fatalf("SIGTERM: exited %v, code %d", exited, code)
	}
	t.Logf("%d records checked; host energy within the meter's truth throughout", r.records)
}

// hostileGuest runs a guest on a share a stranger wrote, one attack after
// another: the record as a symlink out of the share, then as a FIFO; then
// records with absurd facility figures, hundreds of new zone names each
// write, counters near 2^63 under a new instance each write, and timestamps
// a nanosecond apart. The guest must keep serving, never hang, export
// nothing non-finite, keep its exposition small, never log what the
// symlink points at, and never move a counter back.
func hostileGuest(t *testing.T, guestBin, base string) {
	dir := filepath.Join(base, "hostile")
	secret := filepath.Join(base, "secret")
	const canary = "CANARY-4f1d-do-not-log"
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	recPath := filepath.Join(dir, share.RecordFile)
	zone := filepath.Join(dir, "intel-rapl:0")
	must(os.MkdirAll(zone, 0o755))
	must(os.WriteFile(filepath.Join(zone, "name"), []byte("package-0\n"), 0o644))
	must(os.WriteFile(filepath.Join(zone, "max_energy_range_uj"), []byte("262143328850\n"), 0o644))
	must(os.WriteFile(secret, []byte(canary+" not a number\n"), 0o600))
	must(os.Symlink(secret, filepath.Join(zone, "energy_uj")))

	addr := testbin.FreePort(t)
	g := testbin.Start(t, guestBin, "--share-dir", dir, "--web.listen-address", addr, "--poll-interval", "100ms", "--top-processes", "0")
	testbin.WaitFor(t, "hostile guest endpoint", 15*time.Second, func() bool { return testbin.Up(addr) })
	var last float64
	check := func(what string) {
		t.Helper()
		if !g.Running() {
			t.Fatalf("%s: the guest exited:\n%s", what, g.Log())
		}
		done := make(chan map[string]float64, 1)
		go func() { done <- testbin.Scrape(t, addr) }()
		var m map[string]float64
		select {
		case m = <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: /metrics did not answer in 5 s", what)
		}
		if len(m) > 400 {
			t.Fatalf("%s: the exposition grew to %d series", what, len(m))
		}
		for k, v := range m {
			if math.IsInf(v, 0) || math.IsNaN(v) {
				t.Fatalf("%s: %s = %v", what, k, v)
			}
		}
		e, _ := testbin.Sum(m, "virtwatt_vm_energy_joules_total")
		if e < last {
			t.Fatalf("%s: the energy counter went back: %.3f → %.3f J", what, last, e)
		}
		last = e
		if w, _ := testbin.Sum(m, "virtwatt_vm_power_watts"); w > 1e5 {
			t.Fatalf("%s: exported %.0f W", what, w)
		}
		if strings.Contains(g.Log(), canary) || strings.Contains(g.Log(), canary[:16]) {
			t.Fatalf("%s: the guest logged the content of a file outside its share:\n%s", what, g.Log())
		}
	}
	time.Sleep(500 * time.Millisecond)
	check("tree counter symlinked out of the share")
	must(os.Symlink(secret, recPath))
	time.Sleep(500 * time.Millisecond)
	check("record symlinked out of the share")

	for _, p := range []string{recPath, filepath.Join(zone, "energy_uj")} {
		must(os.Remove(p))
		must(syscall.Mkfifo(p, 0o644))
	}
	time.Sleep(500 * time.Millisecond)
	check("record and counter are FIFOs")
	must(os.Remove(recPath))
	must(os.RemoveAll(zone))

	seq := uint64(0)
	start := time.Now()
	write := func(mod func(rec map[string]any)) {
		seq++
		rec := map[string]any{
			"schema": share.SchemaVersion, "host": "h", "domain": "hostile",
			"uuid": "00000000-0000-4000-8000-00000000beef", "instance": "i0", "sequence": seq,
			"timestamp": start.Add(time.Duration(seq) * time.Second), "interval_seconds": 1.0,
			"zones": map[string]share.ZoneEnergy{share.ZonePackage: {UsageUJ: seq * 1_000_000}}, "vcpus": 1,
		}
		mod(rec)
		b, err := json.Marshal(rec)
		must(err)
		tmp := filepath.Join(dir, ".rec.tmp")
		must(os.WriteFile(tmp, b, 0o644))
		must(os.Rename(tmp, recPath))
		time.Sleep(150 * time.Millisecond)
	}
	for range 5 {
		write(func(rec map[string]any) {})
	}
	check("plain records")
	for range 5 {
		write(func(rec map[string]any) {
			rec["pue"], rec["carbon_intensity_g_per_kwh"], rec["wue_liters_per_kwh"] = 1e308, 1e308, 1e308
		})
		check("pue, intensity and wue of 1e308")
	}
	for i := range 8 {
		write(func(rec map[string]any) {
			zones := rec["zones"].(map[string]share.ZoneEnergy)
			for j := range 300 {
				zones[fmt.Sprintf("z%d_%d", i, j)] = share.ZoneEnergy{UsageUJ: uint64(j)}
			}
			labels := map[string]string{}
			for j := range 200 {
				labels[fmt.Sprintf("l%d_%d", i, j)] = strings.Repeat("v", 100)
			}
			rec["labels"] = labels
			rec["host"] = strings.Repeat("h", 4000)
		})
		check("hundreds of new zone and label names")
	}
	for i := range 8 {
		write(func(rec map[string]any) {
			rec["instance"] = fmt.Sprintf("big%d", i)
			rec["zones"] = map[string]share.ZoneEnergy{share.ZonePackage: {UsageUJ: 1 << 63}}
		})
		check("a new instance at 2^63 µJ each write")
	}
	for i := range 5 {
		write(func(rec map[string]any) {
			rec["instance"] = "fast"
			rec["timestamp"] = start.Add(time.Hour + time.Duration(i)*time.Nanosecond)
			rec["zones"] = map[string]share.ZoneEnergy{share.ZonePackage: {UsageUJ: uint64(i) * 1_000_000_000}}
		})
		check("timestamps a nanosecond apart")
	}
}
