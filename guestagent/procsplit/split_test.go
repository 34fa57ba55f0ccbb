package procsplit

import (
	"math/big"
	"math/rand/v2"
	"testing"
)

func TestSplitExactConservesAndRounds(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 500; iter++ {
		n := 1 + rng.IntN(300)
		w := make([]uint64, n)
		var total uint64
		for i := range w {
			if rng.IntN(4) > 0 {
				w[i] = rng.Uint64N(1 << 40)
			}
			total += w[i]
		}
		if total == 0 {
			w[0], total = 1, 1
		}
		e := rng.Uint64()
		if iter%2 == 0 {
			e = rng.Uint64N(1e9)
		}
		got := splitExact(e, w, nil, nil, nil)
		var sum uint64
		for i, s := range got {
			sum += s
			// |s − e×w/total| < 1
			exact := new(big.Rat).SetFrac(new(big.Int).Mul(new(big.Int).SetUint64(e), new(big.Int).SetUint64(w[i])), new(big.Int).SetUint64(total))
			diff := new(big.Rat).Sub(new(big.Rat).SetInt(new(big.Int).SetUint64(s)), exact)
			if diff.Abs(diff).Cmp(big.NewRat(1, 1)) >= 0 {
				t.Fatalf("iter %d: share %d = %d, exact %s", iter, i, s, exact.FloatString(3))
			}
			if w[i] == 0 && s != 0 {
				t.Fatalf("iter %d: zero weight got %d", iter, s)
			}
		}
		if sum != e {
			t.Fatalf("iter %d: Σ shares = %d, want %d", iter, sum, e)
		}
	}
}

func TestSplitExactLargestRemainder(t *testing.T) {
	// 10 µJ over weights 1,1,1: 3.33 each → one extra µJ to the first (ties to lower index).
	got := splitExact(10, []uint64{1, 1, 1}, nil, nil, nil)
	if got[0] != 4 || got[1] != 3 || got[2] != 3 {
		t.Fatalf("got %v, want [4 3 3]", got)
	}
	// 10 over 1,2: 3.33 and 6.67 → the larger remainder (0.67) gets it.
	got = splitExact(10, []uint64{1, 2}, nil, nil, nil)
	if got[0] != 3 || got[1] != 7 {
		t.Fatalf("got %v, want [3 7]", got)
	}
}
