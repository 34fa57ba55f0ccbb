package hostagent

import "github.com/prometheus/client_golang/prometheus"

// Observer holds the agent's own instrumentation (tick duration, errors by
// stage); the energy figures are rendered by Collector from snapshots.
type Observer struct {
	tickDuration prometheus.Histogram
	errors       *prometheus.CounterVec
}

// Stages counted by virtwatt_errors_total.
var errorStages = []string{"meter", stageMeterReset, "procstat", "domains", "share", "state", "prune", "intensity"}

// NewObserver returns unregistered instrumentation.
func NewObserver() *Observer {
	o := &Observer{
		tickDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "virtwatt_tick_duration_seconds",
			Help:    "Time taken by one tick: reading every source, splitting, writing shares and state.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "virtwatt_errors_total",
			Help: "Errors by stage of the tick (meter, meter_reset: a counter reset, procstat, domains, share, state, prune, intensity: a refused carbon intensity reading).",
		}, []string{"stage"}),
	}
	for _, s := range errorStages {
		o.errors.WithLabelValues(s)
	}
	return o
}

// Register adds the instrumentation to r.
func (o *Observer) Register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{o.tickDuration, o.errors} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}
