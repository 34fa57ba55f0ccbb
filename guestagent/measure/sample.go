// Package measure holds what the guest agent knows of its VM at one instant:
// the monotonic energy counters it keeps from the share, the power derived
// from them, and the emissions, water and embodied figures priced from them.
// Exporters (metrics, CSV, JSON lines, webhook, track) only render Samples.
package measure

import (
	"time"

	"github.com/virtwatt/virtwatt/internal/saturate"
	"github.com/virtwatt/virtwatt/share"
)

// Sample is one observation, produced after each poll of the share.
type Sample struct {
	Time     time.Time // guest clock when the sample was made
	HostTime time.Time // host clock of the record it came from (zero for a tree-only share)
	Up       bool      // the share is present, valid and fresh
	// StaleAfter is the share's staleness limit when the sample was made:
	// a Sample older than this (its poll loop stuck, say, in a read of a
	// dead share) no longer says the share is up. 0 when unknown.
	StaleAfter time.Duration

	Host, Domain, UUID string
	Labels             map[string]string

	// EnergyUJ is the agent's own cumulative energy per zone ("package",
	// "dram"): it never goes backwards, across counter resets and restarts of
	// the host's instance.
	EnergyUJ map[string]uint64
	// PowerW per zone; nil or missing zone when unknown or stale (never a fake 0).
	PowerW map[string]float64

	EmissionsGrams float64 // operational, PUE included, over every zone
	WaterLiters    float64
	EmbodiedGrams  float64

	// EmissionsPartGrams splits EmissionsGrams by the part of the energy
	// each gram was priced on (PartDynamic, PartIdle, PartUnsplit; a part
	// with no energy yet is absent); EnergyPartUJ is that energy, every
	// zone together. Both never go backwards.
	EmissionsPartGrams map[string]float64
	EnergyPartUJ       map[string]uint64

	// Method, Model, IdleModel and CPUModel say how the energy was
	// obtained (share.Record.Provenance of the last record: schema-1
	// records read as measured by rapl, idle by time); "" when not said
	// (a tree-only share, or before the share was read).
	Method, Model, IdleModel, CPUModel string
	// EnergyByProvenance is EnergyUJ split by how each µJ was obtained
	// (a Provenance per source the agent followed: the host's record,
	// a tree, or its own estimate): per provenance and zone, cumulative,
	// never going backwards; summed over provenances it is EnergyUJ.
	EnergyByProvenance map[Provenance]map[string]uint64

	IntensityGPerKWh float64
	IntensitySource  string
	PUE, WUE         float64
	PUESource        string
	WUESource        string
	EmbodiedSource   string
	// IntensityZone and IntensityTime: the grid zone of the intensity in
	// force and when it was published, when the host's live source says.
	IntensityZone string
	IntensityTime time.Time

	// Mode is how the share was read: "record", "tree" (counters only, as a
	// Scaphandre host writes them), ModeEstimate while no share is usable
	// and the energy is the guest's own estimate, or "" before either.
	Mode string
	// LastUpdate is when the share last changed: the record's host
	// timestamp, or the guest clock for a tree-only share; zero before.
	LastUpdate time.Time
	// ReadErrors counts, per reason, the polls that could not use the share
	// since the agent started (missing, too_large, garbled, schema, stale...).
	ReadErrors map[string]uint64
}

// Provenance is how energy was obtained: Method (share.MethodMeasured or
// share.MethodEstimated) and the Model that measured or estimated it.
type Provenance struct{ Method, Model string }

// Provenance is s's Method and Model, read as a schema-1 record is when
// unsaid (a tree-only share's counters are RAPL's): measured by rapl.
func (s Sample) Provenance() Provenance {
	if s.Method == "" {
		return Provenance{Method: share.MethodMeasured, Model: share.ModelRAPL}
	}
	return Provenance{Method: s.Method, Model: s.Model}
}

// Estimated reports whether s's energy and power come from the guest's
// own estimate (no usable share) rather than from the share.
func (s Sample) Estimated() bool { return s.Mode == ModeEstimate }

// ModeEstimate is Sample.Mode while no share is usable and the guest
// estimates the VM's energy itself.
const ModeEstimate = "estimate"

// PowerKnownAt reports whether s's power may be exported at now: the share
// is up (UpAt), or s is an estimate no older than s.StaleAfter.
func (s Sample) PowerKnownAt(now time.Time) bool {
	if s.Estimated() {
		return s.StaleAfter <= 0 || now.Sub(s.Time) <= s.StaleAfter
	}
	return s.UpAt(now)
}

// UpAt reports whether the share is still up at now: s.Up, and s no older
// than s.StaleAfter.
func (s Sample) UpAt(now time.Time) bool {
	return s.Up && (s.StaleAfter <= 0 || now.Sub(s.Time) <= s.StaleAfter)
}

// Started reports whether the share was ever read: before that, a Sample
// holds no energy, and no emissions, water or embodied figure either.
func (s Sample) Started() bool { return s.EnergyUJ != nil }

// Parts of the energy and its emissions (Sample.EmissionsPartGrams,
// EnergyPartUJ), as the host's record splits each zone: dynamic is the
// VM's own CPU usage (usage_uj), idle its share of the host's idle or
// static energy (idle_uj); unsplit is energy whose split no one gave (a
// tree-only share). PartEmbodied names Sample.EmbodiedGrams in reports.
const (
	PartDynamic  = "dynamic"
	PartIdle     = "idle"
	PartUnsplit  = "unsplit"
	PartEmbodied = "embodied"
)

// TotalEnergyUJ is the sum over zones, saturated at math.MaxUint64 (it
// never wraps, so it never goes backwards while the zones do not).
func (s Sample) TotalEnergyUJ() uint64 {
	var t uint64
	for _, v := range s.EnergyUJ {
		t, _ = saturate.Add(t, v)
	}
	return t
}

// TotalPowerW is the sum over zones and false when any zone's power is unknown.
func (s Sample) TotalPowerW() (float64, bool) {
	if len(s.PowerW) == 0 {
		return 0, false
	}
	var t float64
	for z := range s.EnergyUJ {
		p, ok := s.PowerW[z]
		if !ok {
			return 0, false
		}
		t += p
	}
	return t, true
}
