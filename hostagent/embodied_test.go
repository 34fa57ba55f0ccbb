package hostagent

import (
	"context"
	"math"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/virtwatt/virtwatt/hostagent/collector"
	"github.com/virtwatt/virtwatt/hostagent/domain"
	"github.com/virtwatt/virtwatt/hostagent/intensity"
	"github.com/virtwatt/virtwatt/hostagent/state"
)

// fakeIntensity is a live intensity the test changes between ticks.
type fakeIntensity struct {
	mu sync.Mutex
	g  float64
}

func (f *fakeIntensity) set(g float64) { f.mu.Lock(); f.g = g; f.mu.Unlock() }
func (f *fakeIntensity) Current() intensity.Value {
	f.mu.Lock()
	defer f.mu.Unlock()
	return intensity.Value{GramsPerKWh: f.g, Source: "fake"}
}

// amortisedUG is floor(total × elapsed / lifetime) by math/big.
func amortisedUG(totalUG, lifetimeNS uint64, elapsed time.Duration) uint64 {
	x := new(big.Int).Mul(new(big.Int).SetUint64(totalUG), big.NewInt(int64(elapsed)))
	return x.Quo(x, new(big.Int).SetUint64(lifetimeNS)).Uint64()
}

// metricValues gathers the registry's family name as label value → value,
// keyed by the label label (and part, when given).
func metricValues(t *testing.T, reg *prometheus.Registry, name, label, part string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var key string
			ok := part == ""
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label {
					key = lp.GetValue()
				}
				if lp.GetName() == "part" && lp.GetValue() == part {
					ok = true
				}
			}
			if ok {
				out[key] = m.GetCounter().GetValue()
			}
		}
	}
	return out
}

// The host charges each running VM its share of the embodied emissions
// (allocated vCPUs over max(Σ allocated, host CPUs)), exactly: Σ VMs +
// host = the amortised total, to the µg, every tick; it prices every
// tick's energy at the intensity in force at that tick (a fake live source
// that changes every tick); the record's embodied_ug and the metrics say
// the same as the state.
func TestHostEmbodiedAndEmissionsByPart(t *testing.T) {
	cfg := testConfig(t)
	cfg.EmbodiedKgCO2e, cfg.LifetimeYears, cfg.PUE = 8766, 2, 1.5 // 500 g/h for the host
	totalUG, lifetimeNS := cfg.embodiedFigures()
	h := newFakeHost(5, 5) // 16 CPUs; vCPUs 1, 2, 3, 4, 1
	h.doms[3].State = domain.StatePaused
	ci := &fakeIntensity{g: 300}
	src := h.sources()
	src.Intensity = ci
	w := newTestAgent(t, cfg, h, state.New()).writer
	a, err := New(cfg, src, w, state.New(), nil, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a.Tick(ctx) // baseline
	start := h.Now()
	type part struct{ dyn, idle float64 }
	want := map[string]*part{}
	last := map[string][2]uint64{}
	for i := range 200 {
		h.advance(time.Duration(200+h.rng.IntN(1800)) * time.Millisecond)
		g := float64(h.rng.IntN(900))
		ci.set(g)
		if !a.Tick(ctx) {
			t.Fatal("tick failed")
		}
		var vms uint64
		for _, d := range h.doms {
			vm := a.st.VMs[d.UUID]
			var u, id uint64
			for _, z := range cfg.Zones {
				u += vm.Zones[z].UsageUJ
				id += vm.Zones[z].IdleUJ
			}
			p := want[d.UUID]
			if p == nil {
				p = &part{}
				want[d.UUID] = p
			}
			p.dyn += float64(u-last[d.UUID][0]) * 1.5 * g / 3.6e6
			p.idle += float64(id-last[d.UUID][1]) * 1.5 * g / 3.6e6
			last[d.UUID] = [2]uint64{u, id}
			for _, c := range []struct {
				name      string
				got, want float64
			}{{"dynamic", float64(vm.Emissions.DynamicUG), p.dyn}, {"idle", float64(vm.Emissions.IdleUG), p.idle}} {
				if off := c.want - c.got; off < -1e-9*c.want || off >= 1+1e-9*c.want {
					t.Fatalf("tick %d, %s: %s emissions %v µg, Σ energy delta × 1.5 × intensity of its tick = %v µg", i, d.Name, c.name, c.got, c.want)
				}
			}
			if d.State != domain.StateRunning && vm.EmbodiedUG != 0 {
				t.Fatalf("tick %d: %s is %s, yet charged %d µg embodied", i, d.Name, d.State, vm.EmbodiedUG)
			}
			vms += vm.EmbodiedUG
		}
		amortised := amortisedUG(totalUG, lifetimeNS, h.Now().Sub(start))
		if got := vms + a.st.Embodied.HostUG + a.st.Embodied.ForgottenUG; got != amortised {
			t.Fatalf("tick %d: Σ VMs + host + forgotten embodied = %d µg, amortised %d", i, got, amortised)
		}
	}
	// 16 CPUs, running vCPUs 1+2+3+1 = 7: VM i gets vCPUs/16 of the total.
	elapsed := h.Now().Sub(start)
	amortised := amortisedUG(totalUG, lifetimeNS, elapsed)
	if hours := elapsed.Hours(); math.Abs(float64(amortised)-500e6*hours) > 1 {
		t.Fatalf("amortised %d µg over %v, want 500 g/h", amortised, elapsed)
	}
	for i, d := range h.doms {
		vcpus := d.VCPUs
		if d.State != domain.StateRunning {
			vcpus = 0
		}
		exact := float64(amortised) * float64(vcpus) / 16
		if got := float64(a.st.VMs[d.UUID].EmbodiedUG); math.Abs(got-exact) > 1 {
			t.Errorf("VM %d (%d vCPUs running): %v µg embodied, exact share %.1f", i, vcpus, got, exact)
		}
	}

	// The record, the view and the metrics agree with the state.
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collector.New(a.Snapshot))
	embodied := metricValues(t, reg, "virtwatt_domain_embodied_grams_total", "domain", "")
	byPart := map[string]map[string]float64{}
	for _, p := range []string{"dynamic", "idle", "embodied"} {
		byPart[p] = metricValues(t, reg, "virtwatt_domain_emissions_grams_total", "domain", p)
	}
	for _, d := range h.doms {
		vm := a.st.VMs[d.UUID]
		rec, err := a.writer.ReadRecord(d.Name)
		if err != nil {
			t.Fatal(err)
		}
		if d.State == domain.StateRunning && rec.EmbodiedUG == 0 {
			t.Errorf("%s: the record carries no embodied_ug", d.Name)
		}
		if d.State == domain.StateRunning && rec.EmbodiedUG != vm.EmbodiedUG {
			t.Errorf("%s: record embodied_ug %d, state %d", d.Name, rec.EmbodiedUG, vm.EmbodiedUG)
		}
		for _, c := range []struct {
			name string
			got  float64
			ug   uint64
		}{
			{"virtwatt_domain_embodied_grams_total", embodied[d.Name], vm.EmbodiedUG},
			{"emissions{part=embodied}", byPart["embodied"][d.Name], vm.EmbodiedUG},
			{"emissions{part=dynamic}", byPart["dynamic"][d.Name], vm.Emissions.DynamicUG},
			{"emissions{part=idle}", byPart["idle"][d.Name], vm.Emissions.IdleUG},
		} {
			if math.Round(c.got*1e6) != float64(c.ug) {
				t.Errorf("%s: %s = %v g, the state has %d µg", d.Name, c.name, c.got, c.ug)
			}
		}
		if d.State == domain.StateRunning && math.Round(embodied[d.Name]*1e6) != float64(rec.EmbodiedUG) {
			t.Errorf("%s: metric %v g, record %d µg", d.Name, embodied[d.Name], rec.EmbodiedUG)
		}
	}
	host := metricValues(t, reg, "virtwatt_host_embodied_grams_total", "", "")[""]
	if math.Round(host*1e6) != float64(amortised) {
		t.Errorf("virtwatt_host_embodied_grams_total %v g, amortised %d µg", host, amortised)
	}
}

// A restart continues every embodied and emissions counter from the state
// file: nothing goes back, the amortised total keeps counting the time
// (the downtime of a quick restart included, like energy), and a restart
// with other figures keeps what was amortised and goes on at the new rate.
func TestEmbodiedAndEmissionsContinueAcrossRestart(t *testing.T) {
	cfg := testConfig(t)
	cfg.EmbodiedKgCO2e, cfg.LifetimeYears, cfg.PUE, cfg.CarbonIntensity = 8766, 2, 1.2, 400
	totalUG, lifetimeNS := cfg.embodiedFigures()
	h := newFakeHost(9, 3)
	h.rangeUJ = 300_000_000
	ctx := context.Background()
	a := newTestAgent(t, cfg, h, state.New())
	a.Tick(ctx)
	start := h.Now()
	for range 10 {
		h.advance(time.Second)
		a.Tick(ctx)
	}
	before := map[string]state.VM{}
	for u, vm := range a.st.VMs {
		before[u] = *vm
	}
	st, err := state.Load(cfg.StateFile) // "kill": only the file survives
	if err != nil {
		t.Fatal(err)
	}
	h.advance(5 * time.Second) // down for a few seconds
	b := newTestAgent(t, cfg, h, st)
	for range 5 {
		h.advance(time.Second)
		b.Tick(ctx)
	}
	for u, vm := range st.VMs {
		old := before[u]
		if vm.EmbodiedUG <= old.EmbodiedUG || vm.Emissions.DynamicUG <= old.Emissions.DynamicUG || vm.Emissions.IdleUG < old.Emissions.IdleUG {
			t.Fatalf("%s did not continue: embodied %d → %d, emissions %+v → %+v", u, old.EmbodiedUG, vm.EmbodiedUG, old.Emissions, vm.Emissions)
		}
		rec, err := b.writer.ReadRecord(vm.Name)
		if err != nil {
			t.Fatal(err)
		}
		if rec.EmbodiedUG != vm.EmbodiedUG || rec.Instance != old.Instance {
			t.Fatalf("%s: record embodied_ug %d (instance %s), state %d (instance %s)", u, rec.EmbodiedUG, rec.Instance, vm.EmbodiedUG, old.Instance)
		}
	}
	amortised := amortisedUG(totalUG, lifetimeNS, h.Now().Sub(start))
	if got := st.Embodied.Amortised(); got != amortised {
		t.Fatalf("after a quick restart the state amortised %d µg, the time since the start %d", got, amortised)
	}

	// Restart with twice the lifetime: what was amortised stays.
	st, err = state.Load(cfg.StateFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg.LifetimeYears = 4
	_, newLife := cfg.embodiedFigures()
	c := newTestAgent(t, cfg, h, st)
	if got := st.Embodied.Amortised(); got != amortised {
		t.Fatalf("new figures moved the amortised total: %d → %d µg", amortised, got)
	}
	h.advance(time.Hour)
	c.Tick(ctx)
	if got, want := st.Embodied.Amortised(), amortised+amortisedUG(totalUG, newLife, time.Hour); got != want {
		t.Fatalf("an hour at the new rate: %d µg, want %d", got, want)
	}
}
