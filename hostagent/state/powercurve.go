package state

import (
	"errors"

	"github.com/virtwatt/virtwatt/hostagent/powercurve"
)

// powerCurveFix is what a refused power_curve tells the operator to do: it
// can be dropped alone, without losing any energy counter.
const powerCurveFix = "; to keep every counter, delete the power_curve member alone (the agent learns the curve again; run virtwatt-host calibrate to measure it at once)"

// validatePowerCurve checks the power curve's bounds (powercurve.Saved's
// Validate), naming the field by its path in the file.
func (s *State) validatePowerCurve() error {
	err := s.PowerCurve.Validate()
	if err == nil {
		return nil
	}
	var fe *powercurve.FieldError
	if errors.As(err, &fe) {
		return &FieldError{Path: "power_curve." + fe.Path, Problem: fe.Problem + powerCurveFix}
	}
	return &FieldError{Path: "power_curve", Problem: err.Error() + powerCurveFix}
}
