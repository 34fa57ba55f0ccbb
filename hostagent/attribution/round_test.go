package attribution

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// apportionSorted is apportion as it was before selectFirst: the leftover
// units go down a full sort of the residuals. It is the reference the
// selection must match unit for unit.
func apportionSorted(y []fx, n []uint64, total uint64, idx []int32) {
	var floors uint64
	for _, v := range y {
		if v.w > 0 {
			floors += uint64(v.w)
		}
	}
	if floors >= total {
		apportion(y, n, total, idx) // a path selectFirst does not touch
		return
	}
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
	left := total - sum
	if m := uint64(len(y)); left >= m {
		q := left / m
		for i := range y {
			n[i] += q
			y[i] = y[i].sub(fxInt(q))
		}
		left -= q * m
	}
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
}

// TestApportionMatchesSort checks, on random claims with many ties (equal
// fractions, equal wholes, negative claims, one participant, thousands),
// that handing out leftover units by selection gives exactly the units and
// residuals the full sort gave.
func TestApportionMatchesSort(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 2026))
	for iter := range 3000 {
		m := 1 + r.IntN(40)
		if iter%50 == 0 {
			m = 500 + r.IntN(2000)
		}
		fracs := []uint64{0, 1, 1 << 63, ^uint64(0), r.Uint64()}
		y := make([]fx, m)
		for i := range y {
			w := int64(r.IntN(5))
			if r.IntN(10) == 0 {
				w = -int64(r.IntN(3)) - 1
			}
			f := fracs[r.IntN(len(fracs))]
			if iter%3 == 0 {
				f = r.Uint64()
			}
			y[i] = fx{w: w, f: f}
		}
		var floors uint64
		for _, v := range y {
			if v.w > 0 {
				floors += uint64(v.w)
			}
		}
		total := floors + uint64(r.IntN(m+1)) // leftover 0..m
		if iter%97 == 0 {
			total = floors + uint64(m)*3 + uint64(r.IntN(m)) // the carry path
		}
		y1, y2 := slices.Clone(y), slices.Clone(y)
		n1, n2 := make([]uint64, m), make([]uint64, m)
		apportion(y1, n1, total, make([]int32, m+1)[:m])
		apportionSorted(y2, n2, total, make([]int32, m+1)[:m])
		if !slices.Equal(n1, n2) || !slices.Equal(y1, y2) {
			t.Fatalf("iter %d (m=%d, total=%d): selection gave %v, sort gave %v", iter, m, total, n1, n2)
		}
		var sum uint64
		for _, v := range n1 {
			sum += v
		}
		if sum != total {
			t.Fatalf("iter %d: Σ n = %d, want %d", iter, sum, total)
		}
	}
}

// TestSelectFirst checks selectFirst against a sorted prefix for every k.
func TestSelectFirst(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, m := range []int{1, 2, 3, 13, 14, 50, 300} {
		y := make([]fx, m)
		for i := range y {
			y[i] = fx{w: int64(r.IntN(2)), f: uint64(r.IntN(4)) << 62}
		}
		want := make([]int32, m)
		for i := range want {
			want[i] = int32(i)
		}
		slices.SortFunc(want, func(a, b int32) int {
			if first(y, a, b) {
				return -1
			}
			return 1
		})
		for k := 0; k <= m; k++ {
			idx := make([]int32, m)
			for i := range idx {
				idx[i] = int32(m - 1 - i)
			}
			selectFirst(y, idx, k)
			got := slices.Clone(idx[:k])
			slices.Sort(got)
			exp := slices.Clone(want[:k])
			slices.Sort(exp)
			if !slices.Equal(got, exp) {
				t.Fatalf("m=%d k=%d: got %v, want %v", m, k, got, exp)
			}
		}
	}
}
