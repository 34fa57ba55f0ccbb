// Package meter reads the host's cumulative energy counters (RAPL) and turns
// successive readings into wrap-corrected deltas.
package meter

// Zone kinds, as powercap names them (without the socket suffix).
const (
	KindPackage = "package"
	KindDRAM    = "dram"
	KindCore    = "core"
	KindUncore  = "uncore"
	KindPsys    = "psys"
)

// Reading is one zone's cumulative counter at one instant.
type Reading struct {
	Kind       string // KindPackage, KindDRAM, ...
	Socket     int    // package index; psys uses 0
	Path       string // where it was read, for errors and logs
	EnergyUJ   uint64 // cumulative µJ, wraps at MaxRangeUJ
	MaxRangeUJ uint64 // counter range; a smaller reading than the last means one wrap
	// CeilingUW is the most power the zone can plausibly draw, in µW, as
	// the meter found it at open (0: DefaultCeilingUW(Kind); see Ceiling).
	CeilingUW uint64
}

// Meter is a source of energy counters (powercap sysfs, raw MSR, simulated).
type Meter interface {
	// Name says which meter this is ("powercap", "msr", "demo").
	Name() string
	// Read returns every zone's counter. The set of zones is stable across calls.
	Read() ([]Reading, error)
}
