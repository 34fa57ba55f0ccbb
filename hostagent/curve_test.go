package hostagent

import (
	"context"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/hostagent/domain"
	"github.com/virtwatt/virtwatt/hostagent/meter"
	"github.com/virtwatt/virtwatt/hostagent/powercurve"
	"github.com/virtwatt/virtwatt/hostagent/state"
	"github.com/virtwatt/virtwatt/internal/procstat"
	"github.com/virtwatt/virtwatt/share"
	"github.com/virtwatt/virtwatt/tests/fakerapl"
)

// curveWorld is a host whose power is P = 40 W + 12 W × busy CPUs (package,
// ±5 % noise) and 5 W + 0.25 W × busy (dram), read through the real
// powercap meter and the real /proc/stat parser, with two VMs of 8 vCPUs
// on its 16 CPUs that use 60 % and 30 % of the busy time.
type curveWorld struct {
	host *fakerapl.CurveHost
	m    meter.Meter
	rng  *rand.Rand

	mu   sync.Mutex
	now  time.Time
	doms []domain.Domain
}

const (
	trueIdleW     = 40.0
	trueMarginalW = 12.0
)

func newCurveWorld(t *testing.T) *curveWorld {
	t.Helper()
	h, err := fakerapl.NewCurveHost(t.TempDir(), 16, trueIdleW, trueMarginalW, 5, 0.25, 0.05, 3)
	if err != nil {
		t.Fatal(err)
	}
	m, err := meter.NewPowercap(h.Tree.Root())
	if err != nil {
		t.Fatal(err)
	}
	return &curveWorld{host: h, m: m, rng: rand.New(rand.NewPCG(5, 6)),
		now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC),
		doms: []domain.Domain{
			{UUID: uuidFor(1), Name: nameFor(1), State: domain.StateRunning, VCPUs: 8},
			{UUID: uuidFor(2), Name: nameFor(2), State: domain.StateRunning, VCPUs: 8},
		}}
}

// step advances one second at a random load of 0 to 10 busy CPUs.
func (w *curveWorld) step(t *testing.T) {
	t.Helper()
	busy := w.rng.Float64() * 10
	if err := w.host.Step(time.Second, busy); err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now = w.now.Add(time.Second)
	ns := busy * 1e9
	w.doms[0].VCPUTimeNS += uint64(ns * 0.6)
	w.doms[0].CPUTimeNS += uint64(ns * 0.6)
	w.doms[1].VCPUTimeNS += uint64(ns * 0.3)
	w.doms[1].CPUTimeNS += uint64(ns * 0.3)
}

func (w *curveWorld) Domains(context.Context) ([]domain.Domain, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]domain.Domain(nil), w.doms...), nil
}

func (w *curveWorld) Close() error { return nil }

func (w *curveWorld) Now() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.now
}

func (w *curveWorld) sources() Sources {
	return Sources{Meter: w.m, Domains: w, Now: w.Now,
		CPU: func() (procstat.CPU, error) { return procstat.Read(w.host.ProcRoot) }}
}

func (w *curveWorld) agent(t *testing.T, cfg Config) *Agent {
	t.Helper()
	st, err := state.Load(cfg.StateFile)
	if err != nil {
		t.Fatal(err)
	}
	sw, err := share.NewWriter(cfg.ShareRoot)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sw.Close() })
	a, err := New(cfg, w.sources(), sw, st, nil, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func idleOf(st *state.State, zone string) uint64 {
	var s uint64
	for _, vm := range st.VMs {
		s += vm.Zones[zone].IdleUJ
	}
	return s
}

// splitUJ is the energy of zone split so far: Σ VMs + the host's share.
func splitUJ(st *state.State, zone string) uint64 {
	s := st.UnattributedUJ[zone] + st.ForgottenUJ[zone]
	for _, vm := range st.VMs {
		s += vm.Zones[zone].TotalUJ()
	}
	return s
}

func packageFit(t *testing.T, a *Agent) (idle, marginal float64, accepted bool) {
	t.Helper()
	for _, c := range a.Snapshot().Curves {
		if c.Zone == "package" && c.Source == "fitted" {
			return c.IdleW, c.MarginalW, c.Accepted
		}
	}
	return 0, 0, false
}

// The agent learns the fake's curve from its own history (idle within 5 %,
// marginal within 10 %), switches the split to it (records say fitted),
// and from then on the static part of each tick is min(learned idle ×
// Δt, E) to the µJ, all of it to the VMs (16 vCPUs on 16 CPUs, policy
// vcpus); a restart keeps the curve.
func TestAgentLearnsPowerCurve(t *testing.T) {
	w := newCurveWorld(t)
	cfg := testConfig(t)
	a := w.agent(t, cfg)
	ctx := context.Background()
	a.Tick(ctx)

	var wantStatic, learnedAt uint64
	var idleBase uint64
	for i := 0; i < 400; i++ {
		w.step(t)
		split := splitUJ(a.st, "package")
		if !a.Tick(ctx) {
			t.Fatal("tick failed")
		}
		rec, err := share.ReadRecord(filepath.Join(cfg.ShareRoot, nameFor(1)))
		if err != nil {
			t.Fatal(err)
		}
		if a.curves.used == share.IdleModelTime {
			if learnedAt != 0 {
				t.Fatalf("tick %d: back to the time model after learning", i)
			}
			if rec.IdleModel != share.IdleModelTime {
				t.Fatalf("tick %d: record says %q before the curve is learned", i, rec.IdleModel)
			}
			idleBase = idleOf(a.st, "package")
			continue
		}
		if rec.IdleModel != share.IdleModelFitted {
			t.Fatalf("tick %d: record says %q, want fitted", i, rec.IdleModel)
		}
		if learnedAt == 0 {
			learnedAt = uint64(i)
		}
		c, ok := a.curves.learners["package"].Accepted()
		if !ok {
			t.Fatal("fitted without an accepted curve")
		}
		// this tick's energy: what the VMs and the host got of it
		e := splitUJ(a.st, "package") - split
		wantStatic += min(staticUJ(c.IdleUW(), uint64(time.Second)), e)
	}
	if learnedAt == 0 || learnedAt > 200 {
		t.Fatalf("learned at tick %d, want within 200 ticks", learnedAt)
	}
	idle, marginal, accepted := packageFit(t, a)
	t.Logf("learned at tick %d: idle %.3f W (true %.0f), marginal %.3f W/CPU (true %.0f)", learnedAt, idle, trueIdleW, marginal, trueMarginalW)
	if !accepted || math.Abs(idle-trueIdleW)/trueIdleW > 0.05 || math.Abs(marginal-trueMarginalW)/trueMarginalW > 0.10 {
		t.Fatalf("fit idle %.3f W marginal %.3f W/CPU accepted %v; want 40 W ±5 %%, 12 W/CPU ±10 %%", idle, marginal, accepted)
	}
	gotStatic := idleOf(a.st, "package") - idleBase
	if d := int64(gotStatic) - int64(wantStatic); d < -2 || d > 2 {
		t.Fatalf("VMs' idle energy since learning %d µJ, want Σ min(idle × Δt, E) = %d µJ (off by %d)", gotStatic, wantStatic, d)
	}
	checkConservation(t, a.st, cfg.Zones)

	// A restart: the curve comes back from the state file, in use at once.
	if err := a.SaveFinal(); err != nil {
		t.Fatal(err)
	}
	b := w.agent(t, cfg)
	b.Tick(ctx)
	w.step(t)
	b.Tick(ctx)
	if b.curves.used != share.IdleModelFitted {
		t.Fatalf("after a restart the idle model is %q, want fitted", b.curves.used)
	}
	ri, rm, _ := packageFit(t, b)
	if math.Abs(ri-idle) > 0.05 || math.Abs(rm-marginal) > 0.05 {
		t.Fatalf("restored curve %.3f W + %.3f W/CPU, want %.3f + %.3f", ri, rm, idle, marginal)
	}
}

// The curve metrics: the learned idle and marginal power, the fit's
// quality and samples and the idle model in use, passing promtool.
func TestCurveMetrics(t *testing.T) {
	w := newCurveWorld(t)
	cfg := testConfig(t)
	a := w.agent(t, cfg)
	ctx := context.Background()
	a.Tick(ctx)
	for range 100 {
		w.step(t)
		a.Tick(ctx)
	}
	reg, err := newRegistry(a, NewObserver())
	if err != nil {
		t.Fatal(err)
	}
	text := gatherText(t, reg)
	t.Log(grepLines(text, "virtwatt_host_idle_power_watts{", "virtwatt_host_marginal", "virtwatt_host_power_curve_r2"))
	for series, want := range map[string]float64{
		`virtwatt_host_idle_power_watts{source="fitted",zone="package"}`:             trueIdleW,
		`virtwatt_host_marginal_power_watts_per_cpu{source="fitted",zone="package"}`: trueMarginalW,
		`virtwatt_host_idle_power_watts{source="fitted",zone="dram"}`:                5,
		`virtwatt_host_power_curve_samples{source="fitted",zone="package"}`:          100,
		`virtwatt_host_power_curve_accepted{zone="package"}`:                         1,
		`virtwatt_host_idle_model_info{idle_model="fitted"}`:                         1,
	} {
		got, ok := seriesValue(text, series)
		if !ok || math.Abs(got-want) > 0.05*want {
			t.Errorf("%s = %v (present %v), want %v ±5 %%", series, got, ok, want)
		}
	}
	for _, series := range []string{`virtwatt_host_power_curve_r2{source="fitted",zone="package"}`, `virtwatt_host_power_curve_residual_watts{source="fitted",zone="package"}`} {
		if v, ok := seriesValue(text, series); !ok || !(v > 0) {
			t.Errorf("%s = %v (present %v), want a positive value", series, v, ok)
		}
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("VIRTWATT_REQUIRE_TOOLS") != "" {
			t.Fatal("promtool not found and VIRTWATT_REQUIRE_TOOLS is set")
		}
		t.Skip("promtool not installed")
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

// A calibrated curve in the state file (calibrate's) or in the config is
// used from the first split, records say "calibrated", and the static part
// is min(idle × Δt, E) exactly; idle_model = "time" ignores every curve.
func TestAgentUsesCalibratedCurve(t *testing.T) {
	calibrated := func(idleUW, marginalUW uint64) *powercurve.SavedCurve {
		return &powercurve.SavedCurve{Time: time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC), IdleUW: idleUW, MarginalUWPerCPU: marginalUW, Samples: 40}
	}
	tests := []struct {
		name      string
		mode      string
		state     bool
		config    bool
		wantModel string
		packageUW uint64 // the static power used for package
	}{
		{"state", IdleModelAuto, true, false, share.IdleModelCalibrated, 40_100_000},
		{"config wins over state", IdleModelAuto, true, true, share.IdleModelCalibrated, 39_500_000},
		{"time ignores curves", IdleModelTime, true, true, share.IdleModelTime, 0},
		{"huge idle: all static", IdleModelCurve, true, false, share.IdleModelCalibrated, 0}, // set below
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newCurveWorld(t)
			cfg := testConfig(t)
			cfg.IdleModel = tc.mode
			st := state.New()
			if tc.state {
				pkg := calibrated(40_100_000, 12_000_000)
				if tc.name == "huge idle: all static" {
					pkg = calibrated(900_000_000, 0)
					tc.packageUW = 900_000_000
				}
				st.PowerCurve = &powercurve.Saved{Zones: map[string]*powercurve.SavedZone{
					"package": {Calibrated: pkg}, "dram": {Calibrated: calibrated(5_000_000, 250_000)}}}
			}
			if tc.config {
				cfg.PowerCurve = map[string]CurveConfig{"package": {IdleWatts: 39.5, MarginalWattsPerCPU: 12}, "dram": {IdleWatts: 5, MarginalWattsPerCPU: 0.25}}
			}
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			if err := st.Save(cfg.StateFile, w.Now()); err != nil {
				t.Fatal(err)
			}
			a := w.agent(t, cfg)
			ctx := context.Background()
			a.Tick(ctx)
			var want, base uint64
			base = idleOf(a.st, "package")
			for range 5 {
				w.step(t)
				split := splitUJ(a.st, "package")
				a.Tick(ctx)
				e := splitUJ(a.st, "package") - split
				want += min(staticUJ(tc.packageUW, uint64(time.Second)), e)
				rec, err := share.ReadRecord(filepath.Join(cfg.ShareRoot, nameFor(2)))
				if err != nil {
					t.Fatal(err)
				}
				if rec.IdleModel != tc.wantModel {
					t.Fatalf("record says idle_model %q, want %q", rec.IdleModel, tc.wantModel)
				}
			}
			if tc.packageUW == 0 {
				return
			}
			got := idleOf(a.st, "package") - base
			if d := int64(got) - int64(want); d < -2 || d > 2 {
				t.Fatalf("VMs' idle energy %d µJ, want Σ min(%d µW × 1 s, E) = %d µJ", got, tc.packageUW, want)
			}
			checkConservation(t, a.st, cfg.Zones)
		})
	}
}

func TestConfigCurveKeys(t *testing.T) {
	for name, tc := range map[string]struct {
		mod  func(c *Config)
		want string
	}{
		"bad idle model": {func(c *Config) { c.IdleModel = "fitted" }, `"fitted" is not one of auto, time, curve`},
		"uncounted zone": {func(c *Config) { c.PowerCurve = map[string]CurveConfig{"psys": {IdleWatts: 1}} }, `[power_curve.psys]: zone "psys" is not counted`},
		"missing zone":   {func(c *Config) { c.PowerCurve = map[string]CurveConfig{"package": {IdleWatts: 40}} }, `no table for counted zone "dram"`},
		"zero idle":      {func(c *Config) { c.PowerCurve = map[string]CurveConfig{"package": {}, "dram": {IdleWatts: 1}} }, "[power_curve.package] idle_watts = 0: must be a positive number"},
		"negative slope": {func(c *Config) {
			c.PowerCurve = map[string]CurveConfig{"package": {IdleWatts: 1, MarginalWattsPerCPU: -1}, "dram": {IdleWatts: 1}}
		}, "[power_curve.package] marginal_watts_per_cpu = -1"},
		"NaN idle": {func(c *Config) {
			c.PowerCurve = map[string]CurveConfig{"package": {IdleWatts: math.NaN()}, "dram": {IdleWatts: 1}}
		}, "idle_watts"},
	} {
		c := testConfig(t)
		tc.mod(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error with %q", name, err, tc.want)
		}
	}
	// The lines calibrate --print-config prints parse.
	dir := t.TempDir()
	p := filepath.Join(dir, "host.toml")
	body := "state_file = \"" + filepath.Join(dir, "s.json") + "\"\nidle_model = \"curve\"\n[power_curve.package]\nidle_watts = 40.125\nmarginal_watts_per_cpu = 11.9\n[power_curve.dram]\nidle_watts = 5.0\nmarginal_watts_per_cpu = 0.25\n"
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := ParseConfigTo(io.Discard, []string{"--config", p}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.IdleModel != IdleModelCurve || c.PowerCurve["package"].IdleWatts != 40.125 || c.PowerCurve["dram"].MarginalWattsPerCPU != 0.25 {
		t.Fatalf("parsed %+v", c.PowerCurve)
	}
}

func grepLines(text string, prefixes ...string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				out = append(out, l)
			}
		}
	}
	return strings.Join(out, "\n")
}

// seriesValue is the value of the series written exactly as series.
func seriesValue(text, series string) (float64, bool) {
	for _, l := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return f, err == nil
		}
	}
	return 0, false
}

// estimatedMeter is the fake's meter saying it estimates.
type estimatedMeter struct{ meter.Meter }

func (estimatedMeter) Provenance() meter.Provenance {
	return meter.Provenance{Method: share.MethodEstimated, Model: share.ModelTDP}
}

// An estimating meter's power is a model of busy CPUs already: it teaches
// no curve, and the split stays by time.
func TestEstimatingMeterTeachesNoCurve(t *testing.T) {
	w := newCurveWorld(t)
	w.m = estimatedMeter{w.m}
	cfg := testConfig(t)
	a := w.agent(t, cfg)
	ctx := context.Background()
	a.Tick(ctx)
	for range 100 {
		w.step(t)
		a.Tick(ctx)
	}
	if a.curves.used != share.IdleModelTime || len(a.Snapshot().Curves) != 0 || a.st.PowerCurve != nil {
		t.Fatalf("idle model %q, curves %+v, saved %+v: want time and nothing learned", a.curves.used, a.Snapshot().Curves, a.st.PowerCurve)
	}
}
