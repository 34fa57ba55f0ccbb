package track

import (
	"fmt"
	"slices"
	"time"

	"github.com/virtwatt/virtwatt/estimate"
	"github.com/virtwatt/virtwatt/guestagent/measure"
	"github.com/virtwatt/virtwatt/guestagent/report"
	"github.com/virtwatt/virtwatt/internal/saturate"
)

// Energy is the VM's energy over the run, from two meter Samples.
type Energy struct {
	Known  bool   // both samples read a share
	Reason string // why not, when !Known
	Stale  bool   // the share was not fresh at one end: a lower bound

	// From and To are the share's update times the energy covers: the
	// host timestamps of the records read at the start and at the end (the
	// guest's clock at the tree's last change for a tree-only share). The
	// host updates the share once per interval, so this window, not the
	// run's, is what the energy measures.
	From, To time.Time
	// FromEstimated, ToEstimated: that end is the guest's own estimate,
	// its time the guest's clock (the sample's), not the host's.
	FromEstimated, ToEstimated bool

	ZoneUJ         map[string]uint64 // VM energy per zone over the run
	TotalUJ        uint64
	EmissionsGrams float64 // VM, PUE included, at the intensities in force
	WaterLiters    float64
	// ByProvenance is TotalUJ by how it was obtained (measured by rapl,
	// estimated by ccf when no share was usable, ...), every zone together.
	ByProvenance map[measure.Provenance]uint64

	Intensity       float64
	IntensitySource string
	PUE, WUE        float64
	PUESource       string
	WUESource       string
}

// NoHostUpdate is Energy.Reason when the share was not updated between the
// start and the end of the run.
const NoHostUpdate = "no host update during the run (the command was shorter than the host's interval, or the host agent is not running)"

// NoEstimateStep is Energy.Reason when no share was usable and the run
// was too short for the guest's estimate to advance.
const NoEstimateStep = "no share, and the run was shorter than one step of the guest's estimate (a /proc/stat clock tick)"

// energyOf is the VM's energy between the Samples s0 (start) and s1 (end):
// unknown when either failed, or when the share was not updated between
// them. An end read that failed but holds the counters kept so far (the
// share gone just before the end, within its staleness limit) gives the
// energy up to the share's last update: a lower bound (Stale).
func energyOf(s0, s1 measure.Sample, err0, err1 error) Energy {
	if err1 != nil && s1.Started() && s0.Started() && err0 == nil {
		s1.Up, err1 = false, nil
	}
	switch {
	case err0 != nil:
		return Energy{Reason: fmt.Sprintf("no VM energy at the start: %v", err0)}
	case err1 != nil:
		return Energy{Reason: fmt.Sprintf("no VM energy at the end: %v", err1)}
	case !s0.Started() || !s1.Started():
		return Energy{Reason: "the share was never read (is it mounted? see virtwatt_share_up)"}
	case s0.Estimated() == s1.Estimated() && !updated(s1).After(updated(s0)):
		// Both ends read the same update: a command shorter than one host
		// interval, or a host that is not running. 0 J would be a lie.
		// (With one end estimated and the other on the share, the switch
		// read the share, and their times are on two clocks, the guest's
		// and the host's, that say nothing of each other.)
		return Energy{Reason: NoHostUpdate}
	}
	e := Energy{
		Known:           true,
		Stale:           !(s0.Up || s0.Estimated()) || !(s1.Up || s1.Estimated()),
		From:            updated(s0),
		To:              updated(s1),
		FromEstimated:   s0.Estimated(),
		ToEstimated:     s1.Estimated(),
		ZoneUJ:          map[string]uint64{},
		EmissionsGrams:  max(0, s1.EmissionsGrams-s0.EmissionsGrams),
		WaterLiters:     max(0, s1.WaterLiters-s0.WaterLiters),
		Intensity:       s1.IntensityGPerKWh,
		IntensitySource: s1.IntensitySource,
		PUE:             s1.PUE,
		WUE:             s1.WUE,
		PUESource:       s1.PUESource,
		WUESource:       s1.WUESource,
	}
	for z, v := range s1.EnergyUJ {
		var d uint64
		if v > s0.EnergyUJ[z] {
			d = v - s0.EnergyUJ[z]
		}
		e.ZoneUJ[z] = d
		e.TotalUJ, _ = saturate.Add(e.TotalUJ, d)
	}
	if e.TotalUJ == 0 && s1.Estimated() {
		// The guest's estimate advances with /proc/stat's clock ticks
		// (10 ms): a run shorter than one got none. 0 J would be a lie.
		return Energy{Reason: NoEstimateStep}
	}
	for p, zones := range s1.EnergyByProvenance {
		for z, v := range zones {
			if old := s0.EnergyByProvenance[p][z]; v > old {
				if e.ByProvenance == nil {
					e.ByProvenance = map[measure.Provenance]uint64{}
				}
				e.ByProvenance[p], _ = saturate.Add(e.ByProvenance[p], v-old)
			}
		}
	}
	return e
}

// updated is when s's energy was last updated: the share's last update,
// or, for the guest's own estimate, the sample's time.
func updated(s measure.Sample) time.Time {
	if s.Estimated() {
		return s.Time
	}
	return s.LastUpdate
}

// Result is a tracked command's measurement.
type Result struct {
	Argv       []string
	ExitCode   int
	Start, End time.Time
	Duration   time.Duration

	CommandCPU float64 // seconds of CPU time of the command's process tree
	GuestCPU   float64 // seconds of guest CPU time (busy + idle, all vCPUs) over the run
	Fraction   float64 // CommandCPU / GuestCPU, at most 1

	Energy Energy

	// The command's share.
	CommandUJ       uint64
	CommandZoneUJ   map[string]uint64
	CommandGrams    float64
	CommandLiters   float64
	Equivalents     []estimate.Equivalent
	AttributionNote string

	// Footprint is the command's emissions in BLOOM's parts (the VM's
	// when the command's share is unknown); nil when the energy is.
	Footprint *report.Breakdown
}

func (r *Result) attribute() {
	if !r.Energy.Known {
		return
	}
	if r.GuestCPU <= 0 {
		r.AttributionNote = "guest CPU time unavailable: the command's share is unknown"
		return
	}
	r.Fraction = min(1, r.CommandCPU/r.GuestCPU)
	r.CommandZoneUJ = map[string]uint64{}
	for z, v := range r.Energy.ZoneUJ {
		c := min(v, saturate.FromFloat(float64(v)*r.Fraction))
		r.CommandZoneUJ[z] = c
		r.CommandUJ, _ = saturate.Add(r.CommandUJ, c)
	}
	r.CommandGrams = r.Energy.EmissionsGrams * r.Fraction
	r.CommandLiters = r.Energy.WaterLiters * r.Fraction
	r.Equivalents = estimate.Equivalents(r.CommandGrams, estimate.KWh(r.CommandUJ))
}

func (r *Result) zones() []string {
	zs := make([]string, 0, len(r.Energy.ZoneUJ))
	for z := range r.Energy.ZoneUJ {
		zs = append(zs, z)
	}
	slices.Sort(zs)
	return zs
}
