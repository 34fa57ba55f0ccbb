package attribution

import "math/bits"

// fx is a signed fixed-point number w + f/2^64. Exact shares are computed
// into fx with 128-bit arithmetic; the truncation error of one value is below
// 2^-63 µJ, far below the 1 µJ the integer outputs resolve.
type fx struct {
	w int64  // whole part (floor)
	f uint64 // fraction, in units of 2^-64
}

func fxInt(n uint64) fx { return fx{w: int64(n)} }

func (a fx) add(b fx) fx {
	f, c := bits.Add64(a.f, b.f, 0)
	return fx{w: a.w + b.w + int64(c), f: f}
}

func (a fx) sub(b fx) fx {
	f, br := bits.Sub64(a.f, b.f, 0)
	return fx{w: a.w - b.w - int64(br), f: f}
}

func (a fx) less(b fx) bool { return a.w < b.w || (a.w == b.w && a.f < b.f) }

// cmp orders a and b: -1, 0 or +1.
func (a fx) cmp(b fx) int {
	switch {
	case a.less(b):
		return -1
	case b.less(a):
		return 1
	}
	return 0
}

// half returns a/2, exactly but for the lowest fraction bit.
func (a fx) half() fx {
	return fx{w: a.w >> 1, f: a.f>>1 | uint64(a.w&1)<<63}
}

// roundHalfUp returns floor(a + 1/2).
func (a fx) roundHalfUp() int64 {
	_, c := bits.Add64(a.f, 1<<63, 0)
	return a.w + int64(c)
}

// mulDiv returns a×b/d for b ≤ d, d > 0 and a < 2^63 (so the quotient fits).
func mulDiv(a, b, d uint64) fx {
	hi, lo := bits.Mul64(a, b)
	q, r := bits.Div64(hi, lo, d) // hi < d because b ≤ d
	f, _ := bits.Div64(r, 0, d)   // r < d
	return fx{w: int64(q), f: f}
}

// mulDivFx returns a×b/d for a ≥ 0, b ≤ d and 0 < d < 2^63.
func (a fx) mulDiv(b, d uint64) fx {
	hi, lo := bits.Mul64(uint64(a.w), b)
	q, r := bits.Div64(hi, lo, d)
	fh, fl := bits.Mul64(a.f, b)
	nh := r + fh // r < d and fh < b ≤ d, both below 2^63: no overflow
	if nh >= d {
		q++
		nh -= d
	}
	f, _ := bits.Div64(nh, fl, d)
	return fx{w: int64(q), f: f}
}
