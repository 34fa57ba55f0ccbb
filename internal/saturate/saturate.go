// Package saturate is unsigned arithmetic that stops at the top instead of
// wrapping: a cumulative counter (energy in µJ, CPU time in ns) that
// wrapped would go backwards, which no consumer of virtwatt may ever see.
// Both agents use it.
package saturate

import "math"

// Add returns a+b saturated at math.MaxUint64, and whether it saturated:
// a counter never wraps to a small value.
func Add(a, b uint64) (uint64, bool) {
	if b > math.MaxUint64-a {
		return math.MaxUint64, true
	}
	return a + b, false
}

// FromFloat converts v to an integer, saturating at math.MaxUint64 (a
// float conversion out of range is undefined in Go); NaN and negative
// values give 0.
func FromFloat(v float64) uint64 {
	switch {
	case !(v > 0):
		return 0
	case v >= math.MaxUint64: // 2^64 as a float64
		return math.MaxUint64
	}
	return uint64(v)
}
