package procsplit

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	descProcessPower = prometheus.NewDesc(
		"virtwatt_process_power_watts",
		"Power of the guest's top processes over the last tick: the VM's measured power split by CPU time.",
		[]string{"pid", "comm"}, nil)
	descProcessEnergy = prometheus.NewDesc(
		"virtwatt_process_energy_joules_total",
		"Cumulative share of the VM's energy per guest command name (\"[system]\": interrupts, steal, kernel threads and short-lived processes; \"other\": names beyond the limit).",
		[]string{"comm"}, nil)
	descIdleEnergy = prometheus.NewDesc(
		"virtwatt_guest_idle_energy_joules_total",
		"Cumulative share of the VM's energy that falls on the guest's idle CPU time.",
		nil, nil)
)

// Describe implements prometheus.Collector.
func (s *Splitter) Describe(ch chan<- *prometheus.Desc) {
	ch <- descProcessPower
	ch <- descProcessEnergy
	ch <- descIdleEnergy
}

// Collect implements prometheus.Collector. Nothing is exported before the
// first split: no invented zeros.
func (s *Splitter) Collect(ch chan<- prometheus.Metric) {
	snap := s.Snapshot()
	for _, p := range snap.Top {
		ch <- prometheus.MustNewConstMetric(descProcessPower, prometheus.GaugeValue, p.Watts, strconv.Itoa(p.PID), p.Comm)
	}
	for comm, uj := range snap.CommEnergyUJ {
		ch <- prometheus.MustNewConstMetric(descProcessEnergy, prometheus.CounterValue, float64(uj)/1e6, comm)
	}
	if snap.Splits > 0 {
		ch <- prometheus.MustNewConstMetric(descIdleEnergy, prometheus.CounterValue, float64(snap.IdleUJ)/1e6)
	}
}
