package hostagent

import (
	"errors"
	"log/slog"
	"time"

	"github.com/virtwatt/virtwatt/hostagent/meter"
)

// openMeter opens the meter cfg.Meter names. With "auto" and no readable
// RAPL it falls back to the estimating meter (model tdp) and says so in
// one warning naming what was tried and why each failed; an estimating
// meter also logs, once, the model's figures, and warns when the CPU is
// not in the TDP table. The estimating meter integrates on now.
func openMeter(cfg Config, now func() time.Time, log *slog.Logger) (meter.Meter, error) {
	est := cfg.estimateOptions()
	est.Now = now
	m, fellBack, err := meter.OpenWithEstimate(meter.Options{Kind: cfg.Meter, PowercapRoot: cfg.PowercapRoot,
		MSRRoot: cfg.MSRRoot, Estimate: est})
	if err != nil {
		return nil, err
	}
	e, ok := m.(*meter.Estimator)
	if !ok {
		return m, nil
	}
	model := e.Model()
	if fellBack != nil {
		attrs := []any{"meter", "auto", "using", meter.EstimatorName, "method", "estimated", "model", "tdp"}
		var nr *meter.NoRAPLError
		if errors.As(fellBack, &nr) {
			attrs = append(attrs, "powercap_root", nr.PowercapRoot, "powercap_error", nr.Powercap.Error(),
				"msr_root", nr.MSRRoot, "msr_error", nr.MSR.Error())
		} else {
			attrs = append(attrs, "err", fellBack.Error())
		}
		log.Warn("no readable RAPL energy counters: estimating the host's power from its CPU's TDP and utilization "+
			"(run as root and load intel_rapl_common/intel_rapl_msr or msr to measure it; meter = \"estimate\" silences this)", attrs...)
	}
	if !model.Known() {
		log.Warn("the CPU model is not in the TDP table: its power is estimated per hardware thread (set estimate_tdp_watts to its TDP per socket)",
			"cpu_model", model.Spec.CPUModel, "threads", model.Spec.Threads, "watts_per_thread", model.Params.WattsPerThread)
	}
	log.Info("estimating meter", "model", model.String())
	return m, nil
}
