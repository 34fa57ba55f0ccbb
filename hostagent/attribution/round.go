package attribution

import (
	"math/bits"
	"slices"
)

// apportion gives total integer units to participants whose exact claims
// (carried remainder + this tick's share) are y, such that every unit goes
// somewhere (Σ n == total), nobody gets a negative amount (n ≥ 0), and the
// residuals y − n stay small: first everyone gets max(0, floor(y)), then the
// units left over go to the largest residuals (largest-remainder method), or,
// when the floors overshoot, units are taken back from the smallest residuals.
// On return y holds the residuals y − n. idx is scratch space.
func apportion(y []fx, n []uint64, total uint64, idx []int32) {
	var sum uint64
	for i := range y {
		var k uint64
		if y[i].w > 0 {
			k = uint64(y[i].w)
		}
		n[i] = k
		y[i] = y[i].sub(fxInt(k))
		sum += k
	}
	for i := range idx {
		idx[i] = int32(i)
	}
	switch {
	case sum < total:
		left := total - sum
		if m := uint64(len(y)); left >= m { // only after absurd carries
			q := left / m
			for i := range y {
				n[i] += q
				y[i] = y[i].sub(fxInt(q))
			}
			left -= q * m
		}
		// The left largest residuals, ties to the earlier participant:
		// a strict total order, so selecting them gives the set a full
		// sort's prefix would.
		selectFirst(y, idx, int(left))
		for _, i := range idx[:left] {
			n[i]++
			y[i] = y[i].sub(fxInt(1))
		}
	case sum > total:
		over := sum - total
		for over > 0 { // one pass takes at most one unit from each
			// Smallest residual first; ties to the later participant.
			slices.SortFunc(idx, func(a, b int32) int {
				if c := y[a].cmp(y[b]); c != 0 {
					return c
				}
				return int(b - a)
			})
			for _, i := range idx {
				if over == 0 {
					break
				}
				if n[i] > 0 {
					n[i]--
					y[i] = y[i].add(fxInt(1))
					over--
				}
			}
		}
	}
}

// first reports whether participant a ranks before b when leftover units are
// handed out: the larger residual, ties to the earlier participant. It is a
// strict total order on distinct participants.
func first(y []fx, a, b int32) bool {
	ya, yb := y[a], y[b]
	if ya.w != yb.w {
		return ya.w > yb.w
	}
	if ya.f != yb.f {
		return ya.f > yb.f
	}
	return a < b
}

// selectFirst reorders idx so that idx[:k] holds the k participants that
// rank first (see first), in no particular order: a quickselect, O(len(idx))
// on average, with a sort as the fallback after too many poor pivots.
func selectFirst(y []fx, idx []int32, k int) {
	lo, hi := 0, len(idx)
	if k <= 0 || k >= hi {
		return
	}
	budget := 2 * bits.Len(uint(hi))
	for hi-lo > 12 {
		if budget == 0 {
			slices.SortFunc(idx[lo:hi], func(a, b int32) int {
				if first(y, a, b) {
					return -1
				}
				return 1 // distinct participants never tie
			})
			return
		}
		budget--
		// median of three as the pivot, moved to hi-1
		m := lo + (hi-lo)/2
		if first(y, idx[m], idx[lo]) {
			idx[m], idx[lo] = idx[lo], idx[m]
		}
		if first(y, idx[hi-1], idx[m]) {
			idx[hi-1], idx[m] = idx[m], idx[hi-1]
			if first(y, idx[m], idx[lo]) {
				idx[m], idx[lo] = idx[lo], idx[m]
			}
		}
		idx[m], idx[hi-1] = idx[hi-1], idx[m]
		p := idx[hi-1]
		s := lo
		for i := lo; i < hi-1; i++ {
			if first(y, idx[i], p) {
				idx[s], idx[i] = idx[i], idx[s]
				s++
			}
		}
		idx[s], idx[hi-1] = idx[hi-1], idx[s]
		// idx[lo:s] rank before p = idx[s], idx[s+1:hi] after it
		switch {
		case k <= s:
			hi = s
		case k > s+1:
			lo = s + 1
		default:
			return
		}
	}
	for i := lo + 1; i < hi; i++ { // insertion sort of the rest
		for j := i; j > lo && first(y, idx[j], idx[j-1]); j-- {
			idx[j], idx[j-1] = idx[j-1], idx[j]
		}
	}
}
