package saturate

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
		if got, sat := Add(tc.a, tc.b); got != tc.want || sat != tc.sat {
			t.Errorf("Add(%d, %d) = %d, %v; want %d, %v", tc.a, tc.b, got, sat, tc.want, tc.sat)
		}
	}
	for _, tc := range []struct {
		v    float64
		want uint64
	}{
		{math.NaN(), 0}, {-1, 0}, {math.Inf(-1), 0}, {0.9, 0}, {42.7, 42},
		{math.MaxUint64, math.MaxUint64}, {2e19, math.MaxUint64}, {math.Inf(1), math.MaxUint64},
	} {
		if got := FromFloat(tc.v); got != tc.want {
			t.Errorf("FromFloat(%v) = %d, want %d", tc.v, got, tc.want)
		}
	}
}
