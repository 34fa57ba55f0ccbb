package measure

import (
	"math"
	"testing"
)

func TestTotalEnergySaturates(t *testing.T) {
	s := Sample{EnergyUJ: map[string]uint64{"package": math.MaxUint64, "dram": 5}}
	if got := s.TotalEnergyUJ(); got != math.MaxUint64 {
		t.Errorf("TotalEnergyUJ = %d, want saturated", got)
	}
}
