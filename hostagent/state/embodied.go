package state

import "math/bits"

// MaxCounterUG bounds every emissions counter (µg CO2e): 2^63 µg is 9.2
// million tonnes, so sums of a few counters cannot wrap.
const MaxCounterUG = 1 << 63

// Amortised is what has been amortised so far, µg CO2e: BaseUG + TotalUG ×
// min(ElapsedNS, LifetimeNS) / LifetimeNS, floored, computed exactly in
// 128 bits (so it never drifts from the elapsed time however many ticks it
// took), and saturating at MaxCounterUG. A server kept beyond its lifetime
// has amortised its whole TotalUG and is charged no more: amortising past
// it would invent emissions nobody manufactured. A nil Embodied or a zero
// lifetime amortise nothing beyond BaseUG.
func (e *Embodied) Amortised() uint64 {
	if e == nil {
		return 0
	}
	if e.LifetimeNS == 0 {
		return min(e.BaseUG, MaxCounterUG)
	}
	hi, lo := bits.Mul64(e.TotalUG, min(e.ElapsedNS, e.LifetimeNS))
	if hi >= e.LifetimeNS { // the quotient does not fit 64 bits
		return MaxCounterUG
	}
	q, _ := bits.Div64(hi, lo, e.LifetimeNS)
	s, c := bits.Add64(q, e.BaseUG, 0)
	if c != 0 || s > MaxCounterUG {
		return MaxCounterUG
	}
	return s
}
