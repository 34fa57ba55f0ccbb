package track

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/guestagent/measure"
)

// TestSummaryFootprint: the end of track prints the command's footprint
// in BLOOM's parts: the growth of each part of the VM's between the start
// and the end samples, times the command's share, with its percent of the
// total and the sources of the factors.
func TestSummaryFootprint(t *testing.T) {
	s0 := measure.Sample{
		Time: fakeHostT0, Up: true, LastUpdate: fakeHostT0, Mode: "record",
		EnergyUJ:           map[string]uint64{"package": 1_000_000},
		EmissionsGrams:     3,
		EmissionsPartGrams: map[string]float64{measure.PartDynamic: 2, measure.PartIdle: 1},
		EnergyPartUJ:       map[string]uint64{measure.PartDynamic: 700_000, measure.PartIdle: 300_000},
		EmbodiedGrams:      0.5, EmbodiedSource: "boavizta",
	}
	s1 := s0
	s1.LastUpdate = fakeHostT0.Add(10 * time.Second)
	s1.EnergyUJ = map[string]uint64{"package": 9_000_000}
	s1.EmissionsGrams = 11
	s1.EmissionsPartGrams = map[string]float64{measure.PartDynamic: 7.25, measure.PartIdle: 3.75}
	s1.EnergyPartUJ = map[string]uint64{measure.PartDynamic: 5_700_000, measure.PartIdle: 3_300_000}
	s1.EmbodiedGrams = 2.75
	s1.IntensityGPerKWh, s1.IntensitySource, s1.PUE, s1.PUESource = 300, "host:live", 1.2, "host"
	s1.Method, s1.Model, s1.IdleModel = "measured", "rapl", "time"

	r := Result{Argv: []string{"job"}, CommandCPU: 1, GuestCPU: 4}
	r.Energy = energyOf(s0, s1, nil, nil)
	r.attribute()
	r.Footprint = footprint(s0, s1, r)
	var b strings.Builder
	r.WriteSummary(&b)
	out := b.String()

	f := 0.25 // the command's share
	embodied, dynamic, idle := (2.75-0.5)*f, (7.25-2)*f, (3.75-1)*f
	total := embodied + dynamic + idle
	for _, want := range []string{
		"footprint        the command's (25.0% of the VM's during the run), in the BLOOM paper's parts:",
		fmt.Sprintf("embodied   %-12.6g %9s", embodied, fmt.Sprintf("%.1f %%", 100*embodied/total)),
		fmt.Sprintf("dynamic    %-12.6g %9s   %.3f J", dynamic, fmt.Sprintf("%.1f %%", 100*dynamic/total), 5.0*f),
		fmt.Sprintf("idle       %-12.6g %9s   %.3f J", idle, fmt.Sprintf("%.1f %%", 100*idle/total), 3.0*f),
		fmt.Sprintf("total      %-12.6g %9s", total, "100.0 %"),
		"carbon intensity  300 gCO2e/kWh, host:live", "PUE               1.2, host", "embodied          boavizta",
		"energy            measured by rapl; idle model time",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	// The command's operational grams in the table are its emissions line's.
	if got := dynamic + idle; got != r.CommandGrams {
		t.Errorf("dynamic + idle = %v g, command emissions %v g", got, r.CommandGrams)
	}

	// Unknown energy: no footprint (no invented 0 %).
	r = Result{Argv: []string{"job"}}
	r.Energy = energyOf(s0, s0, nil, nil)
	if r.Footprint = footprint(s0, s0, r); r.Footprint != nil {
		t.Fatalf("footprint %+v of an unknown energy", r.Footprint)
	}
}
