// Package view is what virtwatt-host knew after a tick, by value: the
// ledger's totals, the last tick's power and every VM's counters. The
// agent builds a Host after each tick and never changes it afterwards, so
// the metrics collector and --once's table read it from any goroutine.
package view

import (
	"math"
	"time"

	"github.com/virtwatt/virtwatt/hostagent/state"
)

// Host is what the agent knew after its last tick; the metrics collector
// and --once only render it.
type Host struct {
	Time time.Time

	// HostEnergyUJ per "kind/socket" key, wrap-corrected and cumulative.
	HostEnergy []ZoneCounter
	// HostPowerW per kind, summed over sockets, over the last tick.
	HostPowerW map[string]float64
	// UnattributedUJ per counted zone: the host's own share.
	UnattributedUJ map[string]uint64
	// ForgottenUJ per counted zone: energy of domains pruned from the state.
	ForgottenUJ map[string]uint64
	// PendingUJ per counted zone: measured but not split yet (libvirt was
	// unreachable). Host energy = Σ domains + unattributed + forgotten + pending.
	PendingUJ map[string]uint64

	Domains []Domain
	Zones   []string // counted zones, in order

	// IdleModel is how the last split divided idle from usage energy
	// (share.IdleModelTime, IdleModelFitted, IdleModelCalibrated); Curves
	// are the power curves known, by zone (fixed ones first).
	IdleModel string
	Curves    []Curve

	// Method and Model say how this tick's energy is obtained (share.Method*,
	// share.Model*): the power metrics carry them as labels.
	Method, Model string
	// HostEnergyByProvenance is HostEnergy by (Method, Model): each
	// provenance's own cumulative energy, the current one always present
	// (Σ over provenances = HostEnergy). The energy metrics render it.
	HostEnergyByProvenance []ZoneCounter

	// Embodied emissions, µg CO2e: amortised so far (EmbodiedUG) = Σ
	// domains' EmbodiedUG + the host's own + forgotten domains'.
	EmbodiedUG, EmbodiedHostUG, EmbodiedForgottenUG uint64

	// Intensity is the grid carbon intensity in force at this tick
	// (GramsPerKWh 0: not set; Time zero: a constant, with no age).
	Intensity Intensity

	// What NewHost, AddDomain and AddGone build with.
	cur, curMethod, curModel string // the provenance in force
	hint                     int    // domains expected
	arena                    arena
}

// Intensity is a grid carbon intensity and where it came from.
type Intensity struct {
	GramsPerKWh  float64
	Source, Zone string
	Time         time.Time // when it was published
}

// ZoneCounter is one host zone's cumulative energy.
type ZoneCounter struct {
	Kind          string
	Socket        int
	EnergyUJ      uint64
	Method, Model string // in HostEnergyByProvenance only
}

// ProvenanceEnergy is a VM's cumulative energy per zone obtained by one
// (Method, Model), by index in Host.Zones.
type ProvenanceEnergy struct {
	Method, Model   string
	UsageUJ, IdleUJ []uint64
}

// Domain is one VM's cumulative and last-tick figures.
type Domain struct {
	UUID, Name, State string
	VCPUs             int
	Labels            map[string]string
	// UsageUJ and IdleUJ are cumulative, by index in Host.Zones.
	UsageUJ, IdleUJ []uint64
	// ByProvenance is UsageUJ and IdleUJ by provenance, sorted, the
	// view's current one always present (Σ = UsageUJ, IdleUJ).
	ByProvenance []ProvenanceEnergy
	// PowerW is the power over the last split, by index in Host.Zones
	// (see Power); nil when there is none (a domain no longer listed, the
	// first split).
	PowerW    []float64
	CPUTimeNS uint64  // cumulative, monotonic
	CPUShare  float64 // of host capacity over the last split (0..1)
	// EmbodiedUG is the VM's embodied emissions and Emissions its energy's
	// emissions by part (dynamic, idle), µg CO2e, cumulative (state.VM).
	EmbodiedUG uint64
	Emissions  state.Emissions
}

// Power is the domain's power in the i-th zone of Host.Zones over the last
// split, and whether there is a figure for it (a zone whose split was
// refused at every split since the domain was first listed has none).
func (d *Domain) Power(i int) (float64, bool) {
	if i >= len(d.PowerW) || math.IsNaN(d.PowerW[i]) {
		return 0, false
	}
	return d.PowerW[i], true
}
