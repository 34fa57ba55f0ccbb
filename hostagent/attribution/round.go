package attribution

import "slices"

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
		// Largest residual first; ties to the earlier participant.
		slices.SortFunc(idx, func(a, b int32) int {
			if c := y[b].cmp(y[a]); c != 0 {
				return c
			}
			return int(a - b)
		})
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
