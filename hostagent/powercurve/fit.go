package powercurve

import (
	"math"
	"slices"
)

// Point is one observation: the CPUs busy on average over an interval
// (busy time / elapsed time) and the zone's mean power over it.
type Point struct {
	BusyCPUs float64
	PowerW   float64
}

// Curve is a fitted power curve, P = IdleW + MarginalW × busy CPUs, with
// the figures that say how good it is.
type Curve struct {
	IdleW     float64 // static power: the fit at 0 busy CPUs
	MarginalW float64 // watts per busy CPU
	// IdleSEW is the standard error of IdleW (W), from the final weighted
	// fit: ±2 IdleSEW is about a 95 % interval.
	IdleSEW float64
	// R2 is the coefficient of determination of the fit over its points
	// (1 − Σ residual² / Σ (P − mean P)²); 0 when every P is equal.
	R2 float64
	// ResidualW is the median absolute residual (W): the typical distance
	// of a tick's power from the curve.
	ResidualW float64
	// Samples is the number of points fitted.
	Samples int
	// SpreadCPUs is the spread of busy CPUs over the points: the 90th
	// minus the 10th percentile.
	SpreadCPUs float64
}

// IdleUW is IdleW in whole microwatts, rounded, never negative: the figure
// the per-tick split multiplies by the elapsed time.
func (c Curve) IdleUW() uint64 {
	if !(c.IdleW > 0) {
		return 0
	}
	return uint64(math.Min(math.Round(c.IdleW*1e6), maxUW))
}

// maxUW bounds a power figure in µW (1 GW): no host draws that, and the
// per-tick products stay far from 64 bits.
const maxUW = 1e15

// maxIterations bounds the reweighting of Fit.
const maxIterations = 32

// huberK is the Huber tuning constant in units of the robust scale: 95 %
// efficiency for normal noise.
const huberK = 1.345

// fitter holds Fit's scratch buffers so that a Learner refits without
// allocating.
type fitter struct {
	w, r, scratch []float64
}

// Fit fits ps robustly. It reports false when there are fewer than 3
// points, a point is not finite, or busy CPUs do not vary.
func Fit(ps []Point) (Curve, bool) {
	var f fitter
	return f.fit(ps)
}

func (f *fitter) fit(ps []Point) (Curve, bool) {
	n := len(ps)
	if n < 3 {
		return Curve{}, false
	}
	for _, p := range ps {
		if !finite(p.BusyCPUs) || !finite(p.PowerW) {
			return Curve{}, false
		}
	}
	f.w = grow(f.w, n)
	f.r = grow(f.r, n)
	f.scratch = grow(f.scratch, n)
	for i := range f.w {
		f.w[i] = 1
	}
	a, b, ok := wls(ps, f.w)
	if !ok {
		return Curve{}, false
	}
	for range maxIterations {
		for i, p := range ps {
			f.r[i] = p.PowerW - (a + b*p.BusyCPUs)
		}
		s := 1.4826 * f.medianAbs(f.r)
		if s <= 1e-12 { // an exact fit (or more than half the points on it)
			break
		}
		k := huberK * s
		for i, r := range f.r {
			if ar := math.Abs(r); ar > k {
				f.w[i] = k / ar
			} else {
				f.w[i] = 1
			}
		}
		na, nb, ok := wls(ps, f.w)
		if !ok {
			break
		}
		done := math.Abs(na-a) <= 1e-9*(1+math.Abs(a)) && math.Abs(nb-b) <= 1e-9*(1+math.Abs(b))
		a, b = na, nb
		if done {
			break
		}
	}
	c := Curve{IdleW: a, MarginalW: b, Samples: n}
	// Quality: weighted residual variance for the intercept's error; plain
	// R² and the median absolute residual for people.
	var sw, swx, swxx, swrr, mean, ssTot, ssRes float64
	for _, p := range ps {
		mean += p.PowerW
	}
	mean /= float64(n)
	for i, p := range ps {
		r := p.PowerW - (a + b*p.BusyCPUs)
		f.r[i] = r
		w := f.w[i]
		sw += w
		swx += w * p.BusyCPUs
		swxx += w * p.BusyCPUs * p.BusyCPUs
		swrr += w * r * r
		ssRes += r * r
		d := p.PowerW - mean
		ssTot += d * d
	}
	if ssTot > 0 {
		c.R2 = 1 - ssRes/ssTot
	}
	c.ResidualW = f.medianAbs(f.r)
	if det := sw*swxx - swx*swx; det > 0 && sw > 2 {
		sigma2 := swrr / (sw - 2)
		c.IdleSEW = math.Sqrt(sigma2 * swxx / det)
	}
	for i, p := range ps {
		f.scratch[i] = p.BusyCPUs
	}
	slices.Sort(f.scratch)
	c.SpreadCPUs = quantile(f.scratch, 0.9) - quantile(f.scratch, 0.1)
	if !finite(c.IdleW) || !finite(c.MarginalW) || !finite(c.IdleSEW) || !finite(c.R2) || !finite(c.ResidualW) {
		return Curve{}, false
	}
	return c, true
}

// wls is the weighted least-squares line through ps: intercept a, slope b;
// false when the weighted busy CPUs do not vary.
func wls(ps []Point, w []float64) (a, b float64, ok bool) {
	var sw, sx, sy float64
	for i, p := range ps {
		sw += w[i]
		sx += w[i] * p.BusyCPUs
		sy += w[i] * p.PowerW
	}
	if !(sw > 0) {
		return 0, 0, false
	}
	mx, my := sx/sw, sy/sw
	var sxx, sxy float64
	for i, p := range ps {
		dx := p.BusyCPUs - mx
		sxx += w[i] * dx * dx
		sxy += w[i] * dx * (p.PowerW - my)
	}
	if !(sxx > 1e-12*sw) {
		return 0, 0, false
	}
	b = sxy / sxx
	return my - b*mx, b, true
}

// medianAbs is the median of |r|, using f.scratch (O(n) on average).
func (f *fitter) medianAbs(r []float64) float64 {
	s := f.scratch[:len(r)]
	for i, v := range r {
		s[i] = math.Abs(v)
	}
	n := len(s)
	m := selectK(s, n/2)
	if n%2 == 1 {
		return m
	}
	// the largest of the lower half, which selectK left below n/2
	lo := s[0]
	for _, v := range s[1 : n/2] {
		lo = max(lo, v)
	}
	return (lo + m) / 2
}

// selectK reorders s so that s[k] is its k-th smallest value, everything
// before it no larger and everything after no smaller (Hoare's quickselect
// with a median-of-three pivot), and returns s[k].
func selectK(s []float64, k int) float64 {
	lo, hi := 0, len(s)-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		if s[mid] < s[lo] {
			s[mid], s[lo] = s[lo], s[mid]
		}
		if s[hi] < s[lo] {
			s[hi], s[lo] = s[lo], s[hi]
		}
		if s[hi] < s[mid] {
			s[hi], s[mid] = s[mid], s[hi]
		}
		pivot := s[mid]
		i, j := lo, hi
		for i <= j {
			for s[i] < pivot {
				i++
			}
			for s[j] > pivot {
				j--
			}
			if i <= j {
				s[i], s[j] = s[j], s[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return s[k]
		}
	}
	return s[k]
}

// quantile is the q-quantile of sorted s by linear interpolation.
func quantile(s []float64, q float64) float64 {
	if len(s) == 0 {
		return 0
	}
	x := q * float64(len(s)-1)
	i := int(x)
	if i >= len(s)-1 {
		return s[len(s)-1]
	}
	return s[i] + (x-float64(i))*(s[i+1]-s[i])
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func grow(b []float64, n int) []float64 {
	if cap(b) < n {
		return make([]float64, n)
	}
	return b[:n]
}
