package doctor

import (
	"errors"
	"fmt"

	"github.com/virtwatt/virtwatt/hostagent/meter"
)

// estimatorCheck is the meter check when the agent would estimate: which
// meter, why (meter = "estimate", or auto with no readable RAPL: a
// warning naming what was tried), the CPU matched in the TDP table or not,
// and the model's figures. An unknown CPU is a warning: its power comes
// from a per-thread default.
func estimatorCheck(e *meter.Estimator, fellBack error) Check {
	h := e.Model()
	c := Check{Name: "meter", Status: OK,
		Detail: fmt.Sprintf("will use %s (method estimated, model tdp): %s", meter.EstimatorName, h)}
	var fixes []string
	if fellBack != nil {
		c.Status = Warn
		var nr *meter.NoRAPLError
		if errors.As(fellBack, &nr) {
			c.Detail += fmt.Sprintf("; meter = auto found no readable RAPL: powercap at %s: %v; msr at %s: %v", nr.PowercapRoot, nr.Powercap, nr.MSRRoot, nr.MSR)
		} else {
			c.Detail += "; meter = auto found no readable RAPL: " + fellBack.Error()
		}
		fixes = append(fixes, "to measure instead of estimating, run virtwatt-host as root and load a RAPL driver "+
			"(modprobe intel_rapl_common intel_rapl_msr, or msr); set meter = \"estimate\" to estimate on purpose")
	}
	if !h.Known() {
		c.Status = Warn
		fixes = append(fixes, fmt.Sprintf("the CPU %q is not in the TDP table: set estimate_tdp_watts to its TDP per socket "+
			"(or estimate_watts_per_thread)", h.Spec.CPUModel))
	}
	for i, f := range fixes {
		if i > 0 {
			c.Fix += "; "
		}
		c.Fix += f
	}
	return c
}
