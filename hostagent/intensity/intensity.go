// Package intensity is where the host agent gets the grid's carbon
// intensity in force: a constant from the configuration (Static), a file a
// cron job rewrites (File), or an HTTP endpoint in Electricity Maps'
// carbon-intensity/latest shape (URL).
//
// Invariants:
//   - Current never blocks and never fails: it returns the last good value.
//     A live source polls in its own goroutine (Run) and replaces that value
//     only with one that passed Check (finite, 0 <= g <= MaxGramsPerKWh).
//   - A Value with GramsPerKWh == 0 means "not set" (the guest falls back to
//     its own flags or tables), as the record's carbon_intensity does.
//   - A refused reading is logged once per change of state (good -> bad,
//     bad -> another error, bad -> good), not once per poll.
package intensity

import (
	"fmt"
	"math"
	"time"

	"github.com/virtwatt/virtwatt/share"
)

// MaxGramsPerKWh is the largest intensity a source may report, in
// gCO2e/kWh: share.MaxCarbonIntensity, the bound guests apply to the
// record (a value above it would be ignored by every guest). No grid is
// above about 1,100; more is a unit error (g/MWh, lbs) or garbage, and is
// refused rather than clamped.
const MaxGramsPerKWh = share.MaxCarbonIntensity

// Value is a grid carbon intensity and where it came from.
type Value struct {
	GramsPerKWh float64   // gCO2e per kWh; 0: not set
	Source      string    // e.g. "host", "file:/run/ci.json", "electricitymaps:DE"
	Zone        string    // the grid zone, e.g. "DE" ("" if unknown)
	Time        time.Time // when the value was published (zero if unknown)
}

// Source gives the intensity in force.
type Source interface {
	// Current returns the last good value. It never blocks.
	Current() Value
}

// Check reports whether g is a usable intensity in gCO2e/kWh.
func Check(g float64) error {
	switch {
	case math.IsNaN(g) || math.IsInf(g, 0):
		return fmt.Errorf("carbon intensity %v is not a number", g)
	case g < 0:
		return fmt.Errorf("carbon intensity %v gCO2e/kWh is negative", g)
	case g > MaxGramsPerKWh:
		return fmt.Errorf("carbon intensity %v gCO2e/kWh is above %v: not gCO2e/kWh (g/MWh? lbs?)", g, MaxGramsPerKWh)
	}
	return nil
}

// Static is a constant intensity: the configured carbon_intensity.
type Static Value

// NewStatic returns the configured constant; source "" with a value is
// "host", as records have always said.
func NewStatic(g float64, source string) Static {
	if g > 0 && source == "" {
		source = "host"
	}
	return Static{GramsPerKWh: g, Source: source}
}

// Current returns the constant.
func (s Static) Current() Value { return Value(s) }
