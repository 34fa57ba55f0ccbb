package estimate

import (
	"math"
	"math/bits"
	"time"
)

// fJPerUJ is 1 µJ in femtojoules: a µW for a ns is 1 fJ.
const fJPerUJ = 1_000_000_000

// Integrator turns power over time into a cumulative energy counter in
// integer µJ without drift: each step's power is rounded to the µW
// (Microwatts), multiplied by its duration in ns exactly (128-bit), and
// what falls below a µJ is carried to the next step. After any sequence of
// steps, TotalUJ() = ⌊Σ µW_i × ns_i / 10⁹⌋ exactly; the counter never goes
// back and saturates at math.MaxUint64 instead of wrapping.
// The zero value is ready to use; it is not safe for concurrent use.
type Integrator struct {
	totalUJ uint64
	carryFJ uint64 // < fJPerUJ
}

// Add integrates watts over dt (a negative dt counts as 0, a negative or
// NaN power as 0) and returns the µJ the counter advanced by.
func (i *Integrator) Add(watts float64, dt time.Duration) uint64 {
	if dt <= 0 || i.totalUJ == math.MaxUint64 {
		return 0
	}
	hi, lo := bits.Mul64(Microwatts(watts), uint64(dt))
	var c uint64
	lo, c = bits.Add64(lo, i.carryFJ, 0)
	hi += c // hi < 2^64−1 here: a product's high word is at most 2^64−2
	if hi >= fJPerUJ {
		return i.saturate()
	}
	q, r := bits.Div64(hi, lo, fJPerUJ)
	if q > math.MaxUint64-i.totalUJ {
		return i.saturate()
	}
	i.totalUJ += q
	i.carryFJ = r
	return q
}

func (i *Integrator) saturate() uint64 {
	d := math.MaxUint64 - i.totalUJ
	i.totalUJ, i.carryFJ = math.MaxUint64, 0
	return d
}

// TotalUJ is the cumulative energy.
func (i *Integrator) TotalUJ() uint64 { return i.totalUJ }

// Microwatts rounds a power in W to the µW; negative and NaN give 0, and
// it saturates at math.MaxUint64.
func Microwatts(watts float64) uint64 {
	v := math.Round(watts * 1e6)
	switch {
	case !(v > 0):
		return 0
	case v >= math.MaxUint64:
		return math.MaxUint64
	}
	return uint64(v)
}
