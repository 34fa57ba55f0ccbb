package procsplit

import (
	"math/bits"
	"sort"
)

// splitExact divides e µJ in proportion to weights and returns the shares
// (reusing the shares, rems and order slices). Each share is ⌊e×w/Σw⌋
// computed in 128 bits; the µJ that flooring leaves over (fewer than the
// number of non-zero weights) go one each to the largest remainders, ties
// to the lower index, so that Σ shares = e exactly. A zero weight gets 0.
// The caller guarantees Σw > 0 and that Σw does not overflow.
func splitExact(e uint64, weights []uint64, shares []uint64, rems []uint64, order []int) []uint64 {
	var total uint64
	for _, w := range weights {
		total += w
	}
	shares = shares[:0]
	rems = rems[:0]
	var sum uint64
	for _, w := range weights {
		hi, lo := bits.Mul64(e, w)
		q, r := bits.Div64(hi, lo, total) // w ≤ total, so hi < total: no overflow panic
		shares = append(shares, q)
		rems = append(rems, r)
		sum += q
	}
	left := e - sum
	if left == 0 {
		return shares
	}
	order = order[:0]
	for i := range weights {
		order = append(order, i)
	}
	sort.SliceStable(order, func(a, b int) bool { return rems[order[a]] > rems[order[b]] })
	for _, i := range order {
		if left == 0 {
			break
		}
		if weights[i] == 0 {
			continue
		}
		shares[i]++
		left--
	}
	return shares
}
