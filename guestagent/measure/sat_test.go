package measure

import (
	"math"
	"testing"
)

func TestSaturating(t *testing.T) {
	for _, tc := range []struct {
		a, b, want uint64
		sat        bool
	}{
		{1, 2, 3, false},
		{math.MaxUint64 - 1, 1, math.MaxUint64, false},
		{math.MaxUint64 - 1, 2, math.MaxUint64, true},
		{1 << 63, 1 << 63, math.MaxUint64, true},
	} {
		if got, sat := AddUJ(tc.a, tc.b); got != tc.want || sat != tc.sat {
			t.Errorf("AddUJ(%d, %d) = %d, %v; want %d, %v", tc.a, tc.b, got, sat, tc.want, tc.sat)
		}
	}
	for _, tc := range []struct {
		v    float64
		want uint64
	}{
		{math.NaN(), 0}, {-1, 0}, {math.Inf(-1), 0}, {0.9, 0}, {42.7, 42},
		{math.MaxUint64, math.MaxUint64}, {2e19, math.MaxUint64}, {math.Inf(1), math.MaxUint64},
	} {
		if got := UJFromFloat(tc.v); got != tc.want {
			t.Errorf("UJFromFloat(%v) = %d, want %d", tc.v, got, tc.want)
		}
	}
	s := Sample{EnergyUJ: map[string]uint64{"package": math.MaxUint64, "dram": 5}}
	if got := s.TotalEnergyUJ(); got != math.MaxUint64 {
		t.Errorf("TotalEnergyUJ = %d, want saturated", got)
	}
}
