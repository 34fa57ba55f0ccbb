package hostagent

import (
	"fmt"

	"github.com/virtwatt/virtwatt/hostagent/meter"
	"github.com/virtwatt/virtwatt/hostagent/state"
	"github.com/virtwatt/virtwatt/internal/procinfo"
	"github.com/virtwatt/virtwatt/share"
)

// setProvenance tells the records (and the metrics, through the view) how
// the energy is obtained — the meter's provenance, measured by RAPL unless
// it says otherwise — and the host CPU's model name, and which record
// schema to write. record_schema 1 cannot carry estimated energy (a
// schema-1 guest reads every record as measured): that is refused here,
// before the first share is written.
func (a *Agent) setProvenance() error {
	p := meter.ProvenanceOf(a.src.Meter)
	if p.CPUModel == "" && !a.cfg.Demo {
		if c, err := procinfo.ReadCPU(a.cfg.ProcRoot); err == nil {
			p.CPUModel = c.ModelName
		}
	}
	if a.cfg.RecordSchema == 1 && p.Method != share.MethodMeasured {
		return fmt.Errorf("config key record_schema: 1 cannot carry %s energy (the %s meter, model %s): a schema-1 guest would read it as measured; "+
			"set record_schema = 2 and upgrade the guests to a version that reads schema 2, or give the host a readable RAPL meter",
			p.Method, a.src.Meter.Name(), p.Model)
	}
	a.site.Method, a.site.Model, a.site.CPUModel = p.Method, p.Model, p.CPUModel
	a.site.RecordSchema = a.cfg.RecordSchema
	return nil
}

// provenanceKey is the state's key of the meter's provenance.
func (a *Agent) provenanceKey() string { return state.ProvenanceKey(a.site.Method, a.site.Model) }
