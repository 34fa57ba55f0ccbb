package hostagent

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/hostagent/state"
	"github.com/virtwatt/virtwatt/share"
)

// A server that outlives lifetime_years has amortised its whole embodied
// total: the VMs and the host together are charged exactly that and no
// more, however long it keeps running, and the records stop advertising
// an embodied rate (a schema-1 guest would integrate it for ever).
func TestEmbodiedStopsAtTheEndOfTheLifetime(t *testing.T) {
	cfg := testConfig(t)
	cfg.EmbodiedKgCO2e, cfg.LifetimeYears = 1000, 1
	totalUG, lifetimeNS := cfg.embodiedFigures()
	h := newFakeHost(7, 3)
	st := state.New()
	// The agent has accounted all but 2.5 s of the lifetime; what that
	// amortised is the host's (no VM yet).
	st.Embodied = &state.Embodied{TotalUG: totalUG, LifetimeNS: lifetimeNS, ElapsedNS: lifetimeNS - uint64(2500*time.Millisecond)}
	st.Embodied.HostUG = st.Embodied.Amortised()
	a := newTestAgent(t, cfg, h, st)
	ctx := context.Background()
	a.Tick(ctx)
	rate := func() float64 {
		t.Helper()
		rec, err := share.ReadRecord(filepath.Join(cfg.ShareRoot, h.doms[0].Name))
		if err != nil {
			t.Fatal(err)
		}
		return rec.EmbodiedGramsPerHour
	}
	if rate() <= 0 {
		t.Fatal("records advertise no embodied rate before the end of the lifetime")
	}
	sum := func() uint64 {
		s := a.st.Embodied.HostUG + a.st.Embodied.ForgottenUG
		for _, vm := range a.st.VMs {
			s += vm.EmbodiedUG
		}
		return s
	}
	for i := range 6 {
		h.advance(time.Second)
		a.Tick(ctx)
		if got := sum(); got > totalUG {
			t.Fatalf("tick %d: %d µg of embodied emissions charged, above the server's total %d µg", i, got, totalUG)
		}
	}
	if got := sum(); got != totalUG {
		t.Fatalf("after the lifetime: %d µg charged, want the whole total %d µg", got, totalUG)
	}
	if r := rate(); r != 0 {
		t.Fatalf("after the lifetime the records still advertise %v g/h of embodied emissions", r)
	}
}

// A state saved on another machine amortised that server's age: this one
// starts its own lifetime (what was amortised stays, so nothing goes
// back). On the same machine the lifetime runs on.
func TestEmbodiedLifetimeOfAnotherMachine(t *testing.T) {
	for _, tc := range []struct {
		name, savedMachine string
		wantNewEpoch       bool
	}{{"same machine", "machine-a", false}, {"another machine", "machine-b", true}} {
		t.Run(tc.name, func(t *testing.T) {
			setMachineID(t, "machine-a")
			cfg := testConfig(t)
			cfg.EmbodiedKgCO2e, cfg.LifetimeYears = 1000, 1
			totalUG, lifetimeNS := cfg.embodiedFigures()
			h := newFakeHost(7, 3)
			st := state.New()
			st.Baseline = &state.Baseline{MachineID: tc.savedMachine}
			st.Embodied = &state.Embodied{TotalUG: totalUG, LifetimeNS: lifetimeNS, ElapsedNS: lifetimeNS - uint64(2500*time.Millisecond)}
			before := st.Embodied.Amortised()
			st.Embodied.HostUG = before
			a := newTestAgent(t, cfg, h, st)
			ctx := context.Background()
			a.Tick(ctx)
			start := h.Now()
			for range 6 {
				h.advance(time.Second)
				a.Tick(ctx)
			}
			got := a.st.Embodied.Amortised()
			want := totalUG // the old lifetime ran out
			if tc.wantNewEpoch {
				want = before + amortisedUG(totalUG, lifetimeNS, h.Now().Sub(start))
			}
			if got != want {
				t.Fatalf("amortised %d µg after 6 s, want %d (amortised before %d)", got, want, before)
			}
			checkEmbodiedConservation(t, a.st)
		})
	}
}

func checkEmbodiedConservation(t *testing.T, st *state.State) {
	t.Helper()
	s := st.Embodied.HostUG + st.Embodied.ForgottenUG
	for _, vm := range st.VMs {
		s += vm.EmbodiedUG
	}
	if s != st.Embodied.Amortised() {
		t.Fatalf("Σ VMs + host + forgotten embodied = %d µg, amortised %d", s, st.Embodied.Amortised())
	}
}
