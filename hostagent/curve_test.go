package hostagent

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/hostagent/domain"
	"github.com/virtwatt/virtwatt/hostagent/meter"
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
