package view

import "github.com/virtwatt/virtwatt/hostagent/powercurve"

// Curve is one zone's power curve as the agent knows it.
type Curve struct {
	Zone   string
	Source string // "fitted" (learned from the host's history), "calibrated" (state file) or "config"
	powercurve.Curve
	// Accepted says, for a fitted curve, that a fit met the learning
	// criterion (powercurve.Criterion): the split may use it.
	Accepted bool
}
