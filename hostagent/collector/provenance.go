package collector

import (
	"github.com/virtwatt/virtwatt/hostagent/view"
	"github.com/virtwatt/virtwatt/share"
)

// provenance is the method and model labels of the energy and power
// metrics: the view's, or measured by RAPL when it says none (as a
// schema-1 record means). The agent's meter is fixed for its life, so
// each series keeps one (method, model) and a restart on another meter
// starts new series (`sum without (method, model)` spans both).
func provenance(s *view.Host) (method, model string) {
	if s.Method == "" {
		return share.MethodMeasured, share.ModelRAPL
	}
	return s.Method, s.Model
}
