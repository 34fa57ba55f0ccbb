package powercurve

import "math"

// Criterion says when a fitted curve is good enough to split energy by.
// A fit is accepted when all of these hold:
//
//   - it has at least MinSamples points;
//   - busy CPUs spread (90th − 10th percentile) over at least
//     MinSpreadFraction of the online CPUs, and over at least one CPU: the
//     slope is measured, not guessed from noise;
//   - the idle power's standard error is at most MaxIdleRelSE of it (0.025:
//     the 95 % interval is about ±5 %), which also refuses an idle power
//     extrapolated from loads far above 0;
//   - the idle power is positive and the marginal power is not negative.
//
// R² is reported, not required: a zone whose power barely depends on load
// (DRAM) has a low R² but a well-measured idle power, which is what the
// split needs.
type Criterion struct {
	MinSamples        int
	MinSpreadFraction float64
	MaxIdleRelSE      float64
}

// DefaultCriterion is what virtwatt-host uses.
func DefaultCriterion() Criterion {
	return Criterion{MinSamples: 60, MinSpreadFraction: 0.10, MaxIdleRelSE: 0.025}
}

// Accepts reports whether c meets the criterion on a host of cpus CPUs.
func (k Criterion) Accepts(c Curve, cpus int) bool {
	spread := math.Max(1, k.MinSpreadFraction*float64(cpus))
	return c.Samples >= k.MinSamples && c.SpreadCPUs >= spread &&
		c.IdleW > 0 && c.MarginalW >= 0 && c.IdleSEW <= k.MaxIdleRelSE*c.IdleW
}

// Usable reports whether c can be forced (idle_model = "curve") though it
// may not meet the criterion: a finite fit of at least MinUsableSamples
// points with a positive idle power.
func Usable(c Curve) bool { return c.Samples >= MinUsableSamples && c.IdleW > 0 }

// MinUsableSamples is the fewest points a forced curve is fitted on.
const MinUsableSamples = 10

// DefaultRefitEvery is how many observations a Learner takes between fits.
const DefaultRefitEvery = 10

// Learner learns one zone's curve from observations. It is not safe for
// concurrent use.
type Learner struct {
	win        *Window
	crit       Criterion
	refitEvery int
	since      int // observations since the last fit
	cpus       int // online CPUs at the last observation

	latest, accepted         Curve
	haveLatest, haveAccepted bool

	f   fitter
	buf []Point
}

// NewLearner returns a learner with an empty default window.
func NewLearner(crit Criterion) *Learner {
	return &Learner{win: NewWindow(0, 0), crit: crit, refitEvery: DefaultRefitEvery}
}

// Observe adds one tick's point (see Window.Add) and refits every
// DefaultRefitEvery kept points. It reports whether the point was kept.
func (l *Learner) Observe(p Point, cpus int) bool {
	if !l.win.Add(p, cpus) {
		return false
	}
	l.cpus = cpus
	l.since++
	if l.since >= l.refitEvery {
		l.Refit()
	}
	return true
}

// Refit fits the window now.
func (l *Learner) Refit() {
	l.since = 0
	l.buf = l.win.AppendPoints(l.buf[:0])
	c, ok := l.f.fit(l.buf)
	l.latest, l.haveLatest = c, ok
	if ok && l.crit.Accepts(c, l.cpus) {
		l.accepted, l.haveAccepted = c, true
	}
}

// Latest is the last fit, whatever its quality.
func (l *Learner) Latest() (Curve, bool) { return l.latest, l.haveLatest }

// Accepted is the last fit that met the criterion.
func (l *Learner) Accepted() (Curve, bool) { return l.accepted, l.haveAccepted }

// Window is the learner's window (read it, do not change it).
func (l *Learner) Window() *Window { return l.win }
