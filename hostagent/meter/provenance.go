package meter

import "github.com/virtwatt/virtwatt/share"

// Provenance says how a meter's energy is obtained, as records and metrics
// carry it: Method share.MethodMeasured or share.MethodEstimated, Model
// share.ModelRAPL, share.ModelTDP, ...; CPUModel the host CPU's model name
// when the meter knows it.
type Provenance struct {
	Method, Model, CPUModel string
}

// Provenancer is a Meter that says its Provenance.
type Provenancer interface {
	Provenance() Provenance
}

// ProvenanceOf is m's Provenance; a meter that says none reads RAPL
// counters (powercap, MSR): measured, rapl.
func ProvenanceOf(m Meter) Provenance {
	if p, ok := m.(Provenancer); ok {
		return p.Provenance()
	}
	return Provenance{Method: share.MethodMeasured, Model: share.ModelRAPL}
}
