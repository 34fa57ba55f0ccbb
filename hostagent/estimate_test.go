package hostagent

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/virtwatt/virtwatt/estimate"
	"github.com/virtwatt/virtwatt/hostagent/meter"
	"github.com/virtwatt/virtwatt/hostagent/state"
	"github.com/virtwatt/virtwatt/internal/logcapture"
	"github.com/virtwatt/virtwatt/share"
)

// estimatingHost is a host without RAPL: no powercap tree, no msr files,
// a fake /proc (the meter's testdata cpuinfo and meminfo, and a stat file
// kept in step with the fake host's busy time).
type estimatingHost struct {
	*fakeHost
	proc string
}

func newEstimatingHost(t *testing.T, tree string, ndoms int) *estimatingHost {
	t.Helper()
	h := &estimatingHost{fakeHost: newFakeHost(7, ndoms), proc: t.TempDir()}
	h.cpus = 4 // as the fake cpuinfo says
	for _, f := range []string{"cpuinfo", "meminfo"} {
		b, err := os.ReadFile(filepath.Join("meter", "testdata", "proc", tree, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(h.proc, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h.writeStat(t)
	return h
}

// writeStat writes the fake host's CPU time as /proc/stat ticks.
func (h *estimatingHost) writeStat(t *testing.T) (busyTicks, totalTicks uint64) {
	t.Helper()
	h.mu.Lock()
	elapsed := uint64(h.now.Sub(time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)))
	busy := h.busy
	h.mu.Unlock()
	busyTicks = busy / 10_000_000
	totalTicks = elapsed * uint64(h.cpus) / 10_000_000
	s := fmt.Sprintf("cpu  %d 0 0 %d 0 0 0 0 0 0\n", busyTicks, totalTicks-busyTicks)
	for i := range h.cpus {
		s += fmt.Sprintf("cpu%d 0 0 0 0 0 0 0 0 0 0\n", i)
	}
	if err := os.WriteFile(filepath.Join(h.proc, "stat"), []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return busyTicks, totalTicks
}

func estimatingConfig(t *testing.T, h *estimatingHost) Config {
	cfg := testConfig(t)
	dir := t.TempDir()
	cfg.Meter = "auto"
	cfg.PowercapRoot = filepath.Join(dir, "powercap") // absent
	cfg.MSRRoot = filepath.Join(dir, "cpu")           // absent
	cfg.ProcRoot = h.proc
	return cfg
}

func warnings(hd *logcapture.Handler) []string {
	var out []string
	for _, r := range hd.Records() {
		if r.Level >= slog.LevelWarn {
			out = append(out, r.Message)
		}
	}
	return out
}

// TestAutoWithoutRAPLEstimates: meter = auto on a host with no readable
// RAPL starts on the estimating meter with one warning naming what was
// tried; the host's energy is the model's, computed here by hand, to the
// µJ; Σ VMs + host = estimated, exactly; every record says estimated/tdp
// and the CPU model; the metrics view says so too.
func TestAutoWithoutRAPLEstimates(t *testing.T) {
	for _, tc := range []struct {
		tree        string
		maxW, idleW float64 // P_max, P_idle by hand from the fake cpuinfo
		dramW       float64
		warns       int
	}{
		{"xeon-2s", 150 * 2, 150 * 2 * 0.74 / 3.5, 16 * 0.392, 1},
		{"qemu", 3.5 * 4, 0.74 * 4, 4 * 0.392, 2}, // + "not in the TDP table"
	} {
		t.Run(tc.tree, func(t *testing.T) {
			h := newEstimatingHost(t, tc.tree, 3)
			cfg := estimatingConfig(t, h)
			hd, log := logcapture.New()
			m, err := openMeter(cfg, h.Now, log)
			if err != nil {
				t.Fatalf("meter = auto without RAPL refused to start: %v", err)
			}
			if err := matchZones(&cfg, m, log); err != nil {
				t.Fatal(err)
			}
			w, err := share.NewWriter(cfg.ShareRoot)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			src := Sources{Meter: m, CPU: h.CPU, Domains: h, Now: h.Now}
			a, err := New(cfg, src, w, state.New(), nil, log)
			if err != nil {
				t.Fatal(err)
			}
			var fjCPU, fjDRAM float64 // µW × ns, by hand
			prevBusy, prevTotal := h.writeStat(t)
			u := 0.0
			for i := range 20 {
				dt := time.Duration(700+i*37) * time.Millisecond
				if i > 0 { // the first tick's reading is the tracker's baseline
					h.advance(dt)
				}
				busy, total := h.writeStat(t)
				if i > 0 {
					if total > prevTotal {
						u = float64(busy-prevBusy) / float64(total-prevTotal)
					}
					fjCPU += math.Round((tc.idleW+(tc.maxW-tc.idleW)*u)*1e6) * float64(dt)
					fjDRAM += math.Round(tc.dramW*1e6) * float64(dt)
				}
				prevBusy, prevTotal = busy, total
				if !a.Tick(context.Background()) {
					t.Fatalf("tick %d failed", i)
				}
			}
			// matchZones's reading is the meter's start, at the same instant
			// as the first tick's: the ledger holds every µJ since.
			if got, want := a.st.HostEnergyUJ[hostKey("package", 0)], uint64(math.Floor(fjCPU/1e9)); got != want {
				t.Errorf("package energy %d µJ, the formula by hand gives %d µJ", got, want)
			}
			if got, want := a.st.HostEnergyUJ[hostKey("dram", 0)], uint64(math.Floor(fjDRAM/1e9)); got != want {
				t.Errorf("dram energy %d µJ, the formula by hand gives %d µJ", got, want)
			}
			checkConservation(t, a.st, cfg.Zones)
			checkSnapshotConservation(t, a.Snapshot())
			if s := a.Snapshot(); s.Method != share.MethodEstimated || s.Model != share.ModelTDP {
				t.Errorf("view says %s/%s", s.Method, s.Model)
			}
			var vmUJ uint64
			for _, d := range h.doms {
				rec, err := share.ReadRecord(filepath.Join(cfg.ShareRoot, d.Name))
				if err != nil {
					t.Fatal(err)
				}
				method, model, _ := rec.Provenance()
				if rec.Schema != share.SchemaVersion || method != share.MethodEstimated || model != share.ModelTDP || rec.CPUModel == "" {
					t.Errorf("%s: record schema %d says %s/%s, cpu %q", d.Name, rec.Schema, method, model, rec.CPUModel)
				}
				vmUJ += rec.Zones[share.ZonePackage].TotalUJ()
			}
			if vmUJ == 0 {
				t.Error("no VM got any estimated energy")
			}
			ws := warnings(hd)
			if len(ws) != tc.warns || !strings.Contains(ws[0], "no readable RAPL") {
				t.Fatalf("warnings %q; want %d, the first about RAPL", ws, tc.warns)
			}
			for _, r := range hd.Records() {
				if strings.Contains(r.Message, "no readable RAPL") {
					for _, k := range []string{"powercap_root", "powercap_error", "msr_root", "msr_error"} {
						if v, ok := logcapture.Attr(r, k); !ok || v.String() == "" {
							t.Errorf("the warning lacks %s", k)
						}
					}
				}
			}
		})
	}
}

// TestRecordSchemaOne: record_schema 1 writes schema-1 records (measured
// meters), and is refused at start when the meter estimates.
func TestRecordSchemaOne(t *testing.T) {
	cfg := testConfig(t)
	cfg.RecordSchema = 1
	h := newFakeHost(3, 2)
	a := newTestAgent(t, cfg, h, state.New())
	for range 3 {
		h.advance(time.Second)
		a.Tick(context.Background())
	}
	for _, d := range h.doms {
		b, err := os.ReadFile(filepath.Join(cfg.ShareRoot, d.Name, share.RecordFile))
		if err != nil {
			t.Fatal(err)
		}
		rec, err := share.ParseRecord(b)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Schema != 1 || rec.Method != "" || rec.Model != "" || strings.Contains(string(b), `"method"`) {
			t.Errorf("%s: record_schema 1 wrote %s", d.Name, b)
		}
	}

	eh := newEstimatingHost(t, "xeon-2s", 1)
	ecfg := estimatingConfig(t, eh)
	ecfg.RecordSchema = 1
	m, err := openMeter(ecfg, eh.Now, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(ecfg, Sources{Meter: m, CPU: eh.CPU, Domains: eh, Now: eh.Now}, nil, state.New(), nil, quietLog())
	if err == nil || !strings.Contains(err.Error(), "record_schema") || !strings.Contains(err.Error(), "estimated") {
		t.Fatalf("record_schema 1 with an estimating meter: err %v", err)
	}
	ecfg.Meter = meter.OpenEstimate
	if err := ecfg.Validate(); err == nil || !strings.Contains(err.Error(), "record-schema") {
		t.Fatalf("meter = estimate with record_schema 1 passed Validate: %v", err)
	}
}

// TestEstimateKeysValidated: out-of-range model figures are refused with
// the key named.
func TestEstimateKeysValidated(t *testing.T) {
	for _, tc := range []struct {
		key string
		set func(c *Config)
	}{
		{"estimate.idle-fraction", func(c *Config) { c.EstimateIdleFraction = 1.5 }},
		{"estimate.idle-fraction", func(c *Config) { c.EstimateIdleFraction = math.NaN() }},
		{"estimate.watts-per-thread", func(c *Config) { c.EstimateWattsPerThread = 0 }},
		{"estimate.dram-watts-per-gb", func(c *Config) { c.EstimateDRAMWattsPerGB = -1 }},
		{"estimate.tdp-watts", func(c *Config) { c.EstimateTDPWatts = math.Inf(1) }},
		{"record-schema", func(c *Config) { c.RecordSchema = 3 }},
	} {
		cfg := testConfig(t)
		tc.set(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s: Validate = %v", tc.key, err)
		}
	}
	cfg := testConfig(t)
	if p := cfg.EstimateParams(); p != estimate.DefaultHostPowerParams() {
		t.Errorf("default params %+v, want %+v", p, estimate.DefaultHostPowerParams())
	}
}

// TestEstimateRestartTakesFreshBaselines: the estimating meter's counters
// start at 0 in each process, so a restart within the restore gap must not
// continue from the saved readings (they would read as a counter reset, or
// a bogus delta); it takes fresh baselines and goes on counting exactly.
func TestEstimateRestartTakesFreshBaselines(t *testing.T) {
	h := newEstimatingHost(t, "xeon-2s", 2)
	cfg := estimatingConfig(t, h)
	run := func(st *state.State, ticks int) *Agent {
		t.Helper()
		m, err := openMeter(cfg, h.Now, quietLog())
		if err != nil {
			t.Fatal(err)
		}
		w, err := share.NewWriter(cfg.ShareRoot)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Close() })
		a, err := New(cfg, Sources{Meter: m, CPU: h.CPU, Domains: h, Now: h.Now}, w, st, nil, quietLog())
		if err != nil {
			t.Fatal(err)
		}
		for i := range ticks {
			if i > 0 {
				h.advance(time.Second)
				h.writeStat(t)
			}
			if !a.Tick(context.Background()) {
				t.Fatalf("tick %d failed", i)
			}
		}
		return a
	}
	first := run(state.New(), 30) // a long first run: its saved counter is large
	before := first.st.HostEnergyUJ[hostKey("package", 0)]
	h.advance(2 * time.Second) // restarted within the restore gap
	st, err := state.Load(cfg.StateFile)
	if err != nil {
		t.Fatal(err)
	}
	second := run(st, 5)
	if got := testutil.ToFloat64(second.obs.errors.WithLabelValues(stageMeterReset)); got != 0 {
		t.Errorf("the restart read %v meter resets", got)
	}
	after := second.st.HostEnergyUJ[hostKey("package", 0)]
	if after <= before {
		t.Errorf("package energy %d µJ after the restart, %d before: nothing counted since", after, before)
	}
	checkConservation(t, second.st, cfg.Zones)
}
