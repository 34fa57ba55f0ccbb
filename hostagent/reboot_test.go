package hostagent

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/virtwatt/virtwatt/hostagent/meter"
	"github.com/virtwatt/virtwatt/hostagent/state"
	"github.com/virtwatt/virtwatt/share"
	"github.com/virtwatt/virtwatt/tests/fakerapl"
)

// rebootHost is a host whose meter is a fake powercap tree, read by the
// real powercap meter; CPU time and domains come from a fakeHost, whose
// clock is the test's.
type rebootHost struct {
	*fakeHost
	tree  *fakerapl.Tree
	meter meter.Meter
	proc  string // fake --proc-root, holding the boot id
}

func newRebootHost(t *testing.T) *rebootHost {
	t.Helper()
	base := t.TempDir()
	// One socket at 100 W package (core inside) and 20 W dram; a counter
	// wraps about every hour, so a reboot read as a wrap would be worth
	// hundreds of kJ.
	tree, err := fakerapl.New(base, fakerapl.Standard(1, 100, 20, time.Hour), 0.05, 1)
	if err != nil {
		t.Fatal(err)
	}
	m, err := meter.NewPowercap(tree.Root())
	if err != nil {
		t.Fatal(err)
	}
	h := &rebootHost{fakeHost: newFakeHost(21, 3), tree: tree, meter: m, proc: filepath.Join(base, "proc")}
	h.setBootID(t, "11111111-2222-3333-4444-555555555555")
	return h
}

func (h *rebootHost) setBootID(t *testing.T, id string) {
	t.Helper()
	p := filepath.Join(h.proc, bootIDFile)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(id+"\n"), 0o444); err != nil {
		t.Fatal(err)
	}
}

// step advances the meter and the domains' clocks together.
func (h *rebootHost) step(t *testing.T, d time.Duration) {
	t.Helper()
	if err := h.tree.Step(d); err != nil {
		t.Fatal(err)
	}
	h.advance(d)
}

func (h *rebootHost) sources() Sources {
	return Sources{Meter: h.meter, CPU: h.CPU, Domains: h, Now: h.Now}
}

// agent starts an agent on h from the state file, logging into buf.
func (h *rebootHost) agent(t *testing.T, cfg Config, buf *bytes.Buffer) (*Agent, *state.State) {
	t.Helper()
	st, err := state.Load(cfg.StateFile)
	if err != nil {
		t.Fatal(err)
	}
	w, err := share.NewWriter(cfg.ShareRoot)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	a, err := New(cfg, h.sources(), w, st, nil, slog.New(slog.NewTextHandler(buf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return a, st
}

// measured is the energy the tree's counters advanced by, per host key,
// since the totals in since.
func (h *rebootHost) measured(since map[string]uint64) map[string]uint64 {
	now, _ := h.tree.Totals()
	out := map[string]uint64{}
	for dir, e := range now {
		out[dirKey(dir)] = e - since[dir]
	}
	return out
}

// dirKey maps fakerapl.Standard's zone directories to host keys.
func dirKey(dir string) string {
	switch dir {
	case "intel-rapl:0":
		return hostKey(meter.KindPackage, 0)
	case "intel-rapl:0:0":
		return hostKey(meter.KindCore, 0)
	case "intel-rapl:0:1":
		return hostKey(meter.KindDRAM, 0)
	}
	return dir
}

func resetCount(a *Agent) float64 {
	return testutil.ToFloat64(a.obs.errors.WithLabelValues(stageMeterReset))
}

func rebootConfig(t *testing.T, h *rebootHost) Config {
	cfg := testConfig(t)
	cfg.ProcRoot = h.proc
	return cfg
}

// A fast reboot within the continuity window, with the same boot id saved
// (so only plausibility can tell): the counters restarted near 0, which
// the wrap rule reads as most of the range. It is counted as a reset, no
// energy appears, and from then on the host energy grows by exactly what
// the meter measured; conservation holds throughout.
func TestRebootNearZeroIsResetNotWrap(t *testing.T) {
	h := newRebootHost(t)
	cfg := rebootConfig(t, h)
	ctx := context.Background()
	var log bytes.Buffer
	a, _ := h.agent(t, cfg, &log)
	for i := 0; i < 10; i++ {
		a.Tick(ctx)
		h.step(t, time.Second)
	}
	a.Tick(ctx)
	// The machine reboots and the agent is back 7 s later, its counters
	// restarted near 0; the state file still says the same boot.
	if err := h.tree.Reset(50_000); err != nil {
		t.Fatal(err)
	}
	h.step(t, 7*time.Second)
	b, st := h.agent(t, cfg, &log)
	before := map[string]uint64{}
	for k, v := range st.HostEnergyUJ {
		before[k] = v
	}
	b.Tick(ctx)
	for k, v := range st.HostEnergyUJ {
		if v != before[k] {
			t.Fatalf("%s: the reboot added %d µJ (%.0f J) of energy nobody measured", k, v-before[k], float64(v-before[k])/1e6)
		}
	}
	if got := resetCount(b); got != 3 {
		t.Fatalf("meter_reset counted %v, want 3 (package, core, dram)", got)
	}
	if !strings.Contains(log.String(), "meter counter reset") {
		t.Fatalf("the reset was not logged:\n%s", log.String())
	}
	checkConservation(t, st, cfg.Zones)

	since, _ := h.tree.Totals()
	for i := 0; i < 10; i++ {
		h.step(t, time.Second)
		b.Tick(ctx)
	}
	for k, want := range h.measured(since) {
		if got := st.HostEnergyUJ[k] - before[k]; got != want {
			t.Errorf("%s: host energy grew by %d µJ after the reset, the meter measured %d µJ", k, got, want)
		}
	}
	if got := resetCount(b); got != 3 {
		t.Fatalf("meter_reset counted %v after normal ticks, want still 3", got)
	}
	checkConservation(t, st, cfg.Zones)
}

// A restart within the window continues from the saved counters only on
// the same boot of the same host. After a reboot (another boot id) or with
// a state file copied from another host (another machine id, or host name
// when no machine id can be read), the agent takes fresh baselines: the
// gap is not counted, and the log says why. Here the counters are made to
// look like a plausible increase, so that only the identity can tell.
func TestRestartOnAnotherBootOrHostTakesFreshBaselines(t *testing.T) {
	cases := []struct {
		name    string
		change  func(t *testing.T, h *rebootHost, cfg *Config)
		counted bool   // the gap is measured and split
		log     string // what the log says
	}{
		{"same boot and host continues", func(*testing.T, *rebootHost, *Config) {}, true, "continuing from the saved counters"},
		{"another boot", func(t *testing.T, h *rebootHost, _ *Config) {
			h.setBootID(t, "99999999-8888-7777-6666-555555555555")
		}, false, "the machine rebooted"},
		{"another machine", func(t *testing.T, _ *rebootHost, _ *Config) {
			setMachineID(t, "0123456789abcdef0123456789abcdee")
		}, false, "saved on another host"},
		{"another host name, no machine id", func(t *testing.T, _ *rebootHost, cfg *Config) {
			cfg.HostName = "otherhost"
			setMachineIDFile(t, filepath.Join(t.TempDir(), "none"))
		}, false, "saved on another host"},
		{"same machine renamed continues", func(t *testing.T, _ *rebootHost, cfg *Config) {
			cfg.HostName = "renamed"
		}, true, "continuing from the saved counters"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			setMachineID(t, "0123456789abcdef0123456789abcdef")
			h := newRebootHost(t)
			cfg := rebootConfig(t, h)
			ctx := context.Background()
			var log bytes.Buffer
			a, _ := h.agent(t, cfg, &log)
			for i := 0; i < 5; i++ {
				a.Tick(ctx)
				h.step(t, time.Second)
			}
			a.Tick(ctx)
			saved, err := state.Load(cfg.StateFile)
			if err != nil {
				t.Fatal(err)
			}
			if saved.Baseline == nil || saved.Baseline.BootID == "" || saved.Baseline.MachineID == "" || saved.Baseline.HostName != "testhost" {
				t.Fatalf("identity not saved: %+v", saved.Baseline)
			}
			since, _ := h.tree.Totals()
			h.step(t, 5*time.Second) // the downtime: a plausible increase
			c.change(t, h, &cfg)
			log.Reset()
			b, st := h.agent(t, cfg, &log)
			before := st.HostEnergyUJ[hostKey(meter.KindPackage, 0)]
			b.Tick(ctx)
			got := st.HostEnergyUJ[hostKey(meter.KindPackage, 0)] - before
			want := uint64(0)
			if c.counted {
				want = h.measured(since)[hostKey(meter.KindPackage, 0)]
			}
			if got != want {
				t.Fatalf("first tick after the restart counted %d µJ, want %d", got, want)
			}
			if !strings.Contains(log.String(), c.log) {
				t.Fatalf("log does not say %q:\n%s", c.log, log.String())
			}
			if n := resetCount(b); n != 0 {
				t.Fatalf("fresh baselines counted as %v resets", n)
			}
			checkConservation(t, st, cfg.Zones)
		})
	}
}

// A start that is stopped before its first tick saves no readings: the
// next start cannot take the previous boot's counters for this one's.
func TestSaveBeforeFirstTickKeepsNoStaleReadings(t *testing.T) {
	setMachineID(t, "0123456789abcdef0123456789abcdef")
	h := newRebootHost(t)
	cfg := rebootConfig(t, h)
	ctx := context.Background()
	var log bytes.Buffer
	a, _ := h.agent(t, cfg, &log)
	a.Tick(ctx)
	h.step(t, time.Second)
	a.Tick(ctx)
	h.setBootID(t, "99999999-8888-7777-6666-555555555555") // reboot
	b, _ := h.agent(t, cfg, &log)
	if err := b.SaveFinal(); err != nil {
		t.Fatal(err)
	}
	st, err := state.Load(cfg.StateFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Baseline.Readings) != 0 || st.Baseline.BootID != "99999999-8888-7777-6666-555555555555" {
		t.Fatalf("baseline after a start without ticks: %+v", st.Baseline)
	}
}

func setMachineID(t *testing.T, id string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "machine-id")
	if err := os.WriteFile(p, []byte(id+"\n"), 0o444); err != nil {
		t.Fatal(err)
	}
	setMachineIDFile(t, p)
}

func setMachineIDFile(t *testing.T, p string) {
	t.Helper()
	old := machineIDFile
	machineIDFile = p
	t.Cleanup(func() { machineIDFile = old })
}
