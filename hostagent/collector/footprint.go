package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/virtwatt/virtwatt/hostagent/view"
)

// footprintDescs are the host-side emissions: embodied emissions per
// domain and for the host, and every domain's emissions by part.
type footprintDescs struct {
	domEmbodied, domEmissions                           *prometheus.Desc
	hostEmbodied, hostUnattributedEmb, hostForgottenEmb *prometheus.Desc
}

// footprint is rendered by every Collector (Collect calls it).
var footprint = footprintDescs{
	domEmbodied: prometheus.NewDesc("virtwatt_domain_embodied_grams_total",
		"A VM's share of the host's embodied (manufacturing) emissions in grams CO2e: embodied_kgco2e amortised over lifetime_years, "+
			"charged each tick by allocated vCPUs over max(Σ allocated, host CPUs). The guest's virtwatt_vm_embodied_grams_total follows it.",
		[]string{"domain", "uuid"}, nil),
	domEmissions: prometheus.NewDesc("virtwatt_domain_emissions_grams_total",
		"A VM's emissions in grams CO2e by part: its usage energy (part=dynamic) and its share of the idle energy (part=idle), "+
			"each tick's energy × PUE × the grid intensity in force at that tick, and its embodied emissions (part=embodied).",
		[]string{"domain", "uuid", "part"}, nil),
	hostEmbodied: prometheus.NewDesc("virtwatt_host_embodied_grams_total",
		"The host's embodied emissions amortised so far, in grams CO2e: Σ domains + unattributed + forgotten embodied.",
		nil, nil),
	hostUnattributedEmb: prometheus.NewDesc("virtwatt_host_unattributed_embodied_grams_total",
		"Embodied emissions no VM got (host CPUs not allocated to running VMs), in grams CO2e.",
		nil, nil),
	hostForgottenEmb: prometheus.NewDesc("virtwatt_host_forgotten_embodied_grams_total",
		"Embodied emissions of domains pruned from the state, in grams CO2e.",
		nil, nil),
}

// grams is µg as grams.
func grams(ug uint64) float64 { return float64(ug) / 1e6 }

func (f *footprintDescs) collect(ch chan<- prometheus.Metric, s *view.Host) {
	ch <- prometheus.MustNewConstMetric(f.hostEmbodied, prometheus.CounterValue, grams(s.EmbodiedUG))
	ch <- prometheus.MustNewConstMetric(f.hostUnattributedEmb, prometheus.CounterValue, grams(s.EmbodiedHostUG))
	ch <- prometheus.MustNewConstMetric(f.hostForgottenEmb, prometheus.CounterValue, grams(s.EmbodiedForgottenUG))
	for _, d := range s.Domains {
		ch <- prometheus.MustNewConstMetric(f.domEmbodied, prometheus.CounterValue, grams(d.EmbodiedUG), d.Name, d.UUID)
		for _, p := range []struct {
			part string
			ug   uint64
		}{{"dynamic", d.Emissions.DynamicUG}, {"idle", d.Emissions.IdleUG}, {"embodied", d.EmbodiedUG}} {
			ch <- prometheus.MustNewConstMetric(f.domEmissions, prometheus.CounterValue, grams(p.ug), d.Name, d.UUID, p.part)
		}
	}
}
