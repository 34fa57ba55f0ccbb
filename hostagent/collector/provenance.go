package collector

import (
	"github.com/virtwatt/virtwatt/hostagent/view"
	"github.com/virtwatt/virtwatt/share"
)

// provenance is the method and model labels of the power metrics (a
// rate of this tick, by the meter in force): the view's, or measured by
// RAPL when it says none (as a schema-1 record means). Energy metrics
// render one series per (method, model), each with the energy obtained
// that way (hostEnergy, domainEnergy): after a restart on another meter
// the old series keeps its value and stops growing, the new one grows
// from 0, so `sum by (method)` is right and `sum without (method, model)`
// is the total.
func provenance(s *view.Host) (method, model string) {
	if s.Method == "" {
		return share.MethodMeasured, share.ModelRAPL
	}
	return s.Method, s.Model
}

// hostEnergy is the host energy series: by provenance, or (a view that
// has none) the totals under the view's provenance.
func hostEnergy(s *view.Host) []view.ZoneCounter {
	if len(s.HostEnergyByProvenance) > 0 {
		return s.HostEnergyByProvenance
	}
	method, model := provenance(s)
	out := make([]view.ZoneCounter, len(s.HostEnergy))
	for i, z := range s.HostEnergy {
		z.Method, z.Model = method, model
		out[i] = z
	}
	return out
}

// domainEnergy is d's energy series: by provenance, or (a view that has
// none) its totals under the view's provenance.
func domainEnergy(s *view.Host, d *view.Domain) []view.ProvenanceEnergy {
	if len(d.ByProvenance) > 0 {
		return d.ByProvenance
	}
	method, model := provenance(s)
	return []view.ProvenanceEnergy{{Method: method, Model: model, UsageUJ: d.UsageUJ, IdleUJ: d.IdleUJ}}
}
