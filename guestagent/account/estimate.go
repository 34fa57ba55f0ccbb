package account

import (
	"maps"
	"time"

	"github.com/virtwatt/virtwatt/guestagent/measure"
	"github.com/virtwatt/virtwatt/internal/saturate"
	"github.com/virtwatt/virtwatt/share"
)

// ModeEstimate is the Accountant's mode while the energy is the guest's
// own estimate (no usable share): see Estimated.
const ModeEstimate = measure.ModeEstimate

// treeProvenance is how a tree-only share's energy is counted in
// EnergyByProvenance (the Sample's Method stays unsaid): as a schema-1
// record's, measured by rapl, what a powercap tree holds.
var treeProvenance = measure.Provenance{Method: share.MethodMeasured, Model: share.ModelRAPL}

// Estimate is one step of the guest's own estimate of its VM's energy,
// made while no share is usable (package selfestimate).
type Estimate struct {
	Model     string            // share.ModelCCF
	EnergyUJ  map[string]uint64 // per zone, over the step
	DynamicUJ map[string]uint64 // of EnergyUJ, what is dynamic (the rest is idle/static)
	// PowerW per zone over the step; nil when not known (the first step).
	PowerW map[string]float64
}

// Estimated accounts for one step of the guest's own estimate, made at
// now (guest clock), and returns the resulting Sample: never up (the share
// is not), Mode ModeEstimate, Method share.MethodEstimated, and the step's
// power. The energy is priced at the guest's own settings, as a tree's is.
//
// The share's next reading (a record or tree: the same instance's next
// sequence, a new instance, or the first ever) is then a baseline only,
// adding no energy, because the time its counters cover since their last
// reading (or their start) was estimated: no energy is counted twice.
// Within one host interval at each switch a little time may be counted by
// neither or both. A record's embodied_ug is not energy and was not
// estimated: it is followed as before (all of it at a first read or a new
// instance, its steps within one).
// A step that estimated no energy (the estimator's baseline) changes
// nothing of that.
func (a *Accountant) Estimated(now time.Time, e Estimate) measure.Sample {
	// A step that counted nothing (the estimator's baseline) covers no
	// time: it leaves the share's next reading as it was.
	a.estimated = a.estimated || len(e.EnergyUJ) > 0
	a.onlyTree = false // a record read later must not catch up with a tree
	if a.energy == nil {
		a.energy = map[string]uint64{}
	}
	a.prices, _, _ = a.opts.Pricing.prices(nil, a.prices)
	a.prov = measure.Provenance{Method: share.MethodEstimated, Model: e.Model}
	for zone, d := range e.EnergyUJ {
		dyn := min(e.DynamicUJ[zone], d)
		a.add(zone, d, dyn, d-dyn)
	}
	a.power = nil
	s := a.sample(now, false)
	s.Mode, s.Method, s.Model, s.IdleModel = ModeEstimate, share.MethodEstimated, e.Model, ""
	// The last record's host CPU and live intensity are not this
	// estimate's sources: it used the guest's CPU and the guest's prices.
	s.CPUModel, s.IntensityZone, s.IntensityTime = "", "", time.Time{}
	s.HostTime = time.Time{}
	if len(e.PowerW) > 0 {
		s.PowerW = maps.Clone(e.PowerW)
	}
	return s
}

// LastChange is the guest clock at the last poll that found the share
// changed (a record's sequence advanced or a new baseline, a tree's
// counters moved): the share's energy is counted up to then.
func (a *Accountant) LastChange() time.Time { return a.lastChange }

// MaxProvenances bounds the (method, model) pairs the agent keeps energy
// under (each is a series of virtwatt_vm_energy_joules_total): a record's
// model is any short word, and a host naming a new one on every write must
// not grow them without bound. Past it, a new model's energy is counted
// under ModelOther of its method (said once): every µJ is still counted
// once, under its method.
const MaxProvenances = 8

// ModelOther is the model the energy of models past MaxProvenances is
// counted under.
const ModelOther = "other"

// addProvenance counts d µJ of zone under the provenance in force.
func (a *Accountant) addProvenance(zone string, d uint64) {
	if a.byProv == nil {
		a.byProv = map[measure.Provenance]map[string]uint64{}
	}
	p := a.prov
	if p.Method == "" {
		p = treeProvenance // never unset in practice: each observe sets it first
	}
	if _, ok := a.byProv[p]; !ok && len(a.byProv) >= MaxProvenances {
		a.warnOnce("provenances", "the host's records name more models than the guest keeps: further ones are counted as model \""+ModelOther+"\" of their method",
			"method", p.Method, "model", p.Model, "max_models", MaxProvenances)
		p.Model = ModelOther
	}
	m := a.byProv[p]
	if m == nil {
		m = map[string]uint64{}
		a.byProv[p] = m
	}
	m[zone], _ = saturate.Add(m[zone], d)
}

// energyByProvenance is a deep copy of byProv.
func (a *Accountant) energyByProvenance() map[measure.Provenance]map[string]uint64 {
	if a.byProv == nil {
		return nil
	}
	out := make(map[measure.Provenance]map[string]uint64, len(a.byProv))
	for p, m := range a.byProv {
		out[p] = maps.Clone(m)
	}
	return out
}
