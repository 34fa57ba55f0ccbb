package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/virtwatt/virtwatt/hostagent/view"
)

// curveDescs are the metrics of the host's power curve.
type curveDescs struct {
	idle, marginal, r2, residual, samples, accepted, model *prometheus.Desc
}

func newCurveDescs() curveDescs {
	l := []string{"zone", "source"}
	return curveDescs{
		idle: prometheus.NewDesc("virtwatt_host_idle_power_watts",
			"Static (idle) power of the host's power curve per zone: fitted from its own history (source=fitted), measured by virtwatt-host calibrate (calibrated) or configured (config).",
			l, nil),
		marginal: prometheus.NewDesc("virtwatt_host_marginal_power_watts_per_cpu",
			"Marginal power per busy CPU of the host's power curve per zone.",
			l, nil),
		r2: prometheus.NewDesc("virtwatt_host_power_curve_r2",
			"Coefficient of determination of the power curve's fit over its points (absent for a configured curve).",
			l, nil),
		residual: prometheus.NewDesc("virtwatt_host_power_curve_residual_watts",
			"Median absolute distance of a tick's power from the power curve (absent for a configured curve).",
			l, nil),
		samples: prometheus.NewDesc("virtwatt_host_power_curve_samples",
			"Points the power curve was fitted on (one per tick, at most 512 per zone).",
			l, nil),
		accepted: prometheus.NewDesc("virtwatt_host_power_curve_accepted",
			"1 when the fitted curve met the learning criterion (enough points, spread of busy CPUs, idle power known within about ±5 %), else 0.",
			[]string{"zone"}, nil),
		model: prometheus.NewDesc("virtwatt_host_idle_model_info",
			"How the last split divided energy into idle and usage parts: idle_model=time (idle CPU time), fitted (the learned curve) or calibrated.",
			[]string{"idle_model"}, nil),
	}
}

func (d curveDescs) collect(ch chan<- prometheus.Metric, s *view.Host) {
	if s.IdleModel != "" {
		ch <- prometheus.MustNewConstMetric(d.model, prometheus.GaugeValue, 1, s.IdleModel)
	}
	for _, c := range s.Curves {
		ch <- prometheus.MustNewConstMetric(d.idle, prometheus.GaugeValue, c.IdleW, c.Zone, c.Source)
		ch <- prometheus.MustNewConstMetric(d.marginal, prometheus.GaugeValue, c.MarginalW, c.Zone, c.Source)
		if c.Source == "config" {
			continue
		}
		ch <- prometheus.MustNewConstMetric(d.r2, prometheus.GaugeValue, c.R2, c.Zone, c.Source)
		ch <- prometheus.MustNewConstMetric(d.residual, prometheus.GaugeValue, c.ResidualW, c.Zone, c.Source)
		ch <- prometheus.MustNewConstMetric(d.samples, prometheus.GaugeValue, float64(c.Samples), c.Zone, c.Source)
		if c.Source == "fitted" {
			v := 0.0
			if c.Accepted {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(d.accepted, prometheus.GaugeValue, v, c.Zone)
		}
	}
}
