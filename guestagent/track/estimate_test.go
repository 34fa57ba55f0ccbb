package track

import (
	"strings"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/guestagent/measure"
)

// TestEnergyOfEstimate: a run measured by the guest's own estimate (no
// share) has a known energy, not stale, and says how it was obtained;
// one that started estimated and ended measured says both.
func TestEnergyOfEstimate(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	ccf := measure.Provenance{Method: "estimated", Model: "ccf"}
	rapl := measure.Provenance{Method: "measured", Model: "rapl"}
	s0 := measure.Sample{Time: t0, Mode: measure.ModeEstimate, Method: "estimated", Model: "ccf",
		EnergyUJ:           map[string]uint64{"package": 1_000_000},
		EnergyByProvenance: map[measure.Provenance]map[string]uint64{ccf: {"package": 1_000_000}}}
	s1 := s0
	s1.Time = t0.Add(5 * time.Second)
	s1.EnergyUJ = map[string]uint64{"package": 4_000_000}
	s1.EnergyByProvenance = map[measure.Provenance]map[string]uint64{ccf: {"package": 4_000_000}}
	e := energyOf(s0, s1, nil, nil)
	if !e.Known || e.Stale || e.TotalUJ != 3_000_000 || e.ByProvenance[ccf] != 3_000_000 || !e.To.Equal(s1.Time) {
		t.Fatalf("estimated run: %+v", e)
	}

	s2 := measure.Sample{Time: t0.Add(9 * time.Second), Up: true, Mode: "record", LastUpdate: t0.Add(8 * time.Second),
		Method: "measured", Model: "rapl", EnergyUJ: map[string]uint64{"package": 6_000_000},
		EnergyByProvenance: map[measure.Provenance]map[string]uint64{ccf: {"package": 4_000_000}, rapl: {"package": 2_000_000}}}
	e = energyOf(s0, s2, nil, nil)
	if !e.Known || e.ByProvenance[ccf] != 3_000_000 || e.ByProvenance[rapl] != 2_000_000 {
		t.Fatalf("estimated then measured: %+v", e)
	}
	var b strings.Builder
	Result{Argv: []string{"true"}, Energy: e, AttributionNote: "n/a"}.WriteSummary(&b)
	if !strings.Contains(b.String(), "estimated (ccf) 3.000 J, measured (rapl) 2.000 J") {
		t.Fatalf("summary does not say how the energy was obtained:\n%s", b.String())
	}
}
