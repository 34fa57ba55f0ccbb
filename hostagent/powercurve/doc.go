// Package powercurve learns a host's power curve, P = idle + marginal × busy,
// from its own history: each tick's mean power of a zone against the CPUs
// that were busy over the same tick (from /proc/stat deltas).
//
// It is pure: no I/O, no clock, no goroutines; callers feed observations
// and read curves. Invariants:
//
//   - Memory is bounded: a Window holds at most Bins × PerBin points
//     (DefaultBins × DefaultPerBin = 512), whatever runs through it. Each
//     bin covers one slice of the busy fraction (busy CPUs / online CPUs)
//     and keeps its newest points only, so a host that sits at one load for
//     hours keeps what it learned at the others (a sliding window per load
//     level, not one over time).
//   - Fit is robust (Huber M-estimator by iteratively reweighted least
//     squares, scale from the median absolute deviation): a few outliers
//     (a turbo burst, a tick read across a counter reset) move it little.
//     Its cost is O(points × iterations), at most 32 iterations.
//   - A Curve is finite: Fit never returns NaN or Inf; degenerate input (too
//     few points, no spread in busy CPUs) is reported as no curve.
//   - A Learner refits every RefitEvery observations, never per tick, and
//     its accepted curve is one that met its Criterion (documented on
//     Criterion): it changes only when a newer fit meets the criterion too.
//   - What is saved (Saved) is integers only (milli-CPUs, milliwatts,
//     microwatts, parts per million), as the state file requires; a
//     Learner restored from it holds the same points (to 1 mW and 0.001
//     CPU) and refits them at once.
package powercurve
