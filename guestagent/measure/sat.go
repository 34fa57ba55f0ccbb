package measure

import "math"

// AddUJ returns a+b saturated at math.MaxUint64, and whether it saturated:
// an energy counter never wraps to a small value (it would go backwards).
func AddUJ(a, b uint64) (uint64, bool) {
	if b > math.MaxUint64-a {
		return math.MaxUint64, true
	}
	return a + b, false
}

// UJFromFloat converts v µJ to an integer, saturating at math.MaxUint64 (a
// float conversion out of range is undefined in Go); NaN and negative
// values give 0.
func UJFromFloat(v float64) uint64 {
	switch {
	case !(v > 0):
		return 0
	case v >= math.MaxUint64: // 2^64 as a float64
		return math.MaxUint64
	}
	return uint64(v)
}
