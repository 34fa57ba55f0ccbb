// Package collector renders virtwatt-host's view of the last tick as
// Prometheus metrics. It reads nothing itself and changes nothing.
package collector

import (
	"sort"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/virtwatt/virtwatt/hostagent/view"
)

// Collector renders the agent's latest view.Host as Prometheus metrics.
type Collector struct {
	snap func() *view.Host

	hostEnergy, hostPower, unattributed *prometheus.Desc
	forgotten, pending                  *prometheus.Desc
	domPower, domCPU                    *prometheus.Desc
	intensity, intensityAge             *prometheus.Desc
	curve                               curveDescs // curve.go
}

// New renders what snap returns at each scrape (nil: nothing yet).
func New(snap func() *view.Host) *Collector {
	return &Collector{
		snap:  snap,
		curve: newCurveDescs(),
		hostEnergy: prometheus.NewDesc("virtwatt_host_energy_joules_total",
			"Host energy per RAPL zone and socket, wrap-corrected and cumulative since the state file began.",
			[]string{"zone", "socket", "method", "model"}, nil),
		hostPower: prometheus.NewDesc("virtwatt_host_power_watts",
			"Host power per RAPL zone, summed over sockets, over the last tick.",
			[]string{"zone", "method", "model"}, nil),
		unattributed: prometheus.NewDesc("virtwatt_host_unattributed_energy_joules_total",
			"Energy of a counted zone that no VM got: host processes, idle kept by the host, rounding. Σ domains + this = host energy.",
			[]string{"zone"}, nil),
		forgotten: prometheus.NewDesc("virtwatt_host_forgotten_energy_joules_total",
			"Energy of domains pruned from the state after prune_after: it no longer shows under any domain.",
			[]string{"zone"}, nil),
		pending: prometheus.NewDesc("virtwatt_host_pending_energy_joules",
			"Energy measured but not split yet, because libvirt or /proc/stat could not be read; 0 in normal operation.",
			[]string{"zone"}, nil),
		domPower: prometheus.NewDesc("virtwatt_domain_power_watts",
			"A VM's power per zone over the last split.",
			[]string{"domain", "uuid", "zone", "method", "model"}, nil),
		domCPU: prometheus.NewDesc("virtwatt_domain_cpu_seconds_total",
			"A VM's CPU time (vCPUs plus emulator and I/O threads) accumulated by the agent; it never goes back.",
			[]string{"domain", "uuid"}, nil),
		intensity: prometheus.NewDesc("virtwatt_host_carbon_intensity_grams_per_kwh",
			"Grid carbon intensity in force at the last tick, in gCO2e/kWh, written into every record; absent when not set.",
			[]string{"source", "zone"}, nil),
		intensityAge: prometheus.NewDesc("virtwatt_host_carbon_intensity_age_seconds",
			"Age of the carbon intensity in force at the last tick (from its publication time, or the file's modification time); absent for a constant.",
			nil, nil),
	}
}

// Describe is unchecked: domain energy carries the domains' metadata labels,
// whose names are only known at scrape time.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {}

// Collect renders the snapshot.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s := c.snap()
	if s == nil {
		return
	}
	footprint.collect(ch, s)
	method, model := provenance(s) // provenance.go
	c.curve.collect(ch, s)
	for _, z := range hostEnergy(s) { // provenance.go
		ch <- prometheus.MustNewConstMetric(c.hostEnergy, prometheus.CounterValue, float64(z.EnergyUJ)/1e6, z.Kind, strconv.Itoa(z.Socket), z.Method, z.Model)
	}
	for zone, w := range s.HostPowerW {
		ch <- prometheus.MustNewConstMetric(c.hostPower, prometheus.GaugeValue, w, zone, method, model)
	}
	if ci := s.Intensity; ci.GramsPerKWh > 0 {
		ch <- prometheus.MustNewConstMetric(c.intensity, prometheus.GaugeValue, ci.GramsPerKWh, ci.Source, ci.Zone)
		if !ci.Time.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.intensityAge, prometheus.GaugeValue, max(0, s.Time.Sub(ci.Time).Seconds()))
		}
	}
	for _, zone := range s.Zones {
		ch <- prometheus.MustNewConstMetric(c.unattributed, prometheus.CounterValue, float64(s.UnattributedUJ[zone])/1e6, zone)
		ch <- prometheus.MustNewConstMetric(c.forgotten, prometheus.CounterValue, float64(s.ForgottenUJ[zone])/1e6, zone)
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(s.PendingUJ[zone])/1e6, zone)
	}

	// Metadata labels become label_<name>; every series of the family gets
	// the union of names (empty where a domain has none), as Prometheus
	// requires one label set per family.
	var extra []string
	seen := map[string]bool{}
	for _, d := range s.Domains {
		for k := range d.Labels {
			if !seen[k] {
				seen[k] = true
				extra = append(extra, k)
			}
		}
	}
	sort.Strings(extra)
	names := []string{"domain", "uuid", "zone", "part", "method", "model"}
	for _, k := range extra {
		names = append(names, "label_"+k)
	}
	domEnergy := prometheus.NewDesc("virtwatt_domain_energy_joules_total",
		"A VM's energy per zone, split into the part from its own CPU usage (part=usage) and its share of the host's idle energy (part=idle).",
		names, nil)
	values := make([]string, len(names))
	for _, d := range s.Domains {
		values[0], values[1] = d.Name, d.UUID
		for i, k := range extra {
			values[6+i] = d.Labels[k]
		}
		for _, pe := range domainEnergy(s, &d) { // provenance.go
			values[4], values[5] = pe.Method, pe.Model
			for i, zone := range s.Zones {
				values[2] = zone
				values[3] = "usage"
				ch <- prometheus.MustNewConstMetric(domEnergy, prometheus.CounterValue, float64(pe.UsageUJ[i])/1e6, values...)
				values[3] = "idle"
				ch <- prometheus.MustNewConstMetric(domEnergy, prometheus.CounterValue, float64(pe.IdleUJ[i])/1e6, values...)
			}
		}
		for i, zone := range s.Zones {
			if w, ok := d.Power(i); ok {
				ch <- prometheus.MustNewConstMetric(c.domPower, prometheus.GaugeValue, w, d.Name, d.UUID, zone, method, model)
			}
		}
		ch <- prometheus.MustNewConstMetric(c.domCPU, prometheus.CounterValue, float64(d.CPUTimeNS)/1e9, d.Name, d.UUID)
	}
}
