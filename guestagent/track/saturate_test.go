package track

import (
	"math"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/guestagent/measure"
)

// TestEnergyOfSaturates: the run's total and the command's share never
// wrap, whatever the zones hold, and the command never gets more than the
// VM.
func TestEnergyOfSaturates(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	s0 := measure.Sample{EnergyUJ: map[string]uint64{"package": 0, "dram": 0}, LastUpdate: t0, Up: true}
	s1 := measure.Sample{EnergyUJ: map[string]uint64{"package": math.MaxUint64, "dram": math.MaxUint64},
		LastUpdate: t0.Add(time.Hour), Up: true}
	e := energyOf(s0, s1, nil, nil)
	if !e.Known || e.TotalUJ != math.MaxUint64 {
		t.Fatalf("total = %d (known %v), want saturated at %d", e.TotalUJ, e.Known, uint64(math.MaxUint64))
	}
	r := Result{Energy: e, CommandCPU: 10, GuestCPU: 10}
	r.attribute()
	for z, c := range r.CommandZoneUJ {
		if c != e.ZoneUJ[z] {
			t.Errorf("command %s = %d, want all of the VM's %d (fraction 1)", z, c, e.ZoneUJ[z])
		}
	}
	if r.CommandUJ != math.MaxUint64 {
		t.Errorf("command total = %d, want saturated", r.CommandUJ)
	}
}
