// Package metrics renders the guest agent's latest measure.Sample as
// Prometheus metrics. It holds no state of its own beyond that Sample: the
// counters are the agent's (see package account).
//
// A value that is not known is absent, never a fake 0: no energy, emissions
// or water before the share was ever read, no power while the share is down.
package metrics

import (
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/virtwatt/virtwatt/guestagent/account"
	"github.com/virtwatt/virtwatt/guestagent/follow"
	"github.com/virtwatt/virtwatt/guestagent/measure"
)

const namespace = "virtwatt"

var (
	energyDesc = prometheus.NewDesc(namespace+"_vm_energy_joules_total",
		"Energy of this VM per zone, cumulative since the agent started counting (it includes the energy on the host's counter at that time), by how it was obtained: method measured or estimated, and model (rapl: the host's RAPL counters; tdp, calibrated: the host's own estimate; ccf: the guest's own Cloud Carbon Footprint estimate while no share is usable). Each series only grows; their sum is the VM's energy.",
		[]string{"zone", "method", "model"}, nil)
	powerDesc = prometheus.NewDesc(namespace+"_vm_power_watts",
		"Power of this VM over the last interval, per zone, with how it was obtained (see virtwatt_vm_energy_joules_total); absent while unknown or stale.",
		[]string{"zone", "method", "model"}, nil)
	emissionsDesc = prometheus.NewDesc(namespace+"_vm_emissions_grams_total",
		"Operational emissions of this VM in grams CO2e: energy × PUE × carbon intensity, each step priced at the intensity of its record, by part of the energy (dynamic: the VM's own usage; idle: its share of the host's idle power; unsplit: a share that gives no split). Embodied emissions are virtwatt_vm_embodied_grams_total.",
		[]string{"part"}, nil)
	waterDesc = prometheus.NewDesc(namespace+"_vm_water_liters_total",
		"Water used for this VM's energy in liters: energy × WUE.",
		nil, nil)
	embodiedDesc = prometheus.NewDesc(namespace+"_vm_embodied_grams_total",
		"This VM's share of the host's embodied emissions in grams CO2e: the host's own counter (the record's embodied_ug) summed over its instances, or a schema-1 host's rate accumulated while the share was up; absent when the host gives none.",
		nil, nil)
	intensityDesc = prometheus.NewDesc(namespace+"_carbon_intensity_grams_per_kwh",
		"Carbon intensity in force, in grams CO2e per kWh, with where it came from.",
		[]string{"source"}, nil)
	pueDesc = prometheus.NewDesc(namespace+"_pue",
		"Power usage effectiveness in force, with where it came from.",
		[]string{"source"}, nil)
	wueDesc = prometheus.NewDesc(namespace+"_wue_liters_per_kwh",
		"Water usage effectiveness in force, in liters per kWh, with where it came from.",
		[]string{"source"}, nil)
	upDesc = prometheus.NewDesc(namespace+"_share_up",
		"1 when the share is present, valid and fresh; 0 otherwise.",
		nil, nil)
	lastUpdateDesc = prometheus.NewDesc(namespace+"_share_last_update_timestamp_seconds",
		"When the share last changed: the host's timestamp in its record, or the guest's clock for a tree-only share.",
		nil, nil)
	readErrorsDesc = prometheus.NewDesc(namespace+"_share_read_errors_total",
		"Polls that could not use the share, by reason.",
		[]string{"reason"}, nil)
	infoDesc = prometheus.NewDesc(namespace+"_vm_info",
		"Identity of this VM as its host names it; always 1.",
		[]string{"host", "domain", "uuid", "mode"}, nil)
)

// Collector is a prometheus.Collector over the latest Sample. Update and
// Collect may be called concurrently.
//
// A scrape judges the Sample's age itself: one older than its StaleAfter
// (the poll loop stuck in a read of a dead virtiofsd or 9p server, which
// never returns to say so) exports virtwatt_share_up 0 and no power.
type Collector struct {
	mu     sync.Mutex
	sample measure.Sample
	have   bool
	now    func() time.Time
}

// New returns a Collector with no Sample yet: it exports virtwatt_share_up 0
// and the read error counters at 0.
func New() *Collector { return &Collector{now: time.Now} }

// SetClock sets the clock a scrape judges a Sample's age by (the agent's,
// the one its Samples are stamped with); default time.Now.
func (c *Collector) SetClock(now func() time.Time) {
	c.mu.Lock()
	c.now = now
	c.mu.Unlock()
}

// Update replaces the Sample rendered.
func (c *Collector) Update(s measure.Sample) {
	c.mu.Lock()
	c.sample, c.have = s, true
	c.mu.Unlock()
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		energyDesc, powerDesc, emissionsDesc, waterDesc, embodiedDesc, intensityDesc,
		pueDesc, wueDesc, upDesc, lastUpdateDesc, readErrorsDesc, infoDesc,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	s, have, now := c.sample, c.have, c.now
	c.mu.Unlock()

	s.Up = have && s.UpAt(now())
	up := 0.0
	if s.Up {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, up)
	for _, r := range reasons(s.ReadErrors) {
		ch <- prometheus.MustNewConstMetric(readErrorsDesc, prometheus.CounterValue, float64(s.ReadErrors[r]), r)
	}
	if !have {
		return
	}
	if s.IntensitySource != "" {
		ch <- prometheus.MustNewConstMetric(intensityDesc, prometheus.GaugeValue, s.IntensityGPerKWh, s.IntensitySource)
	}
	if s.PUESource != "" {
		ch <- prometheus.MustNewConstMetric(pueDesc, prometheus.GaugeValue, s.PUE, s.PUESource)
	}
	if s.WUESource != "" {
		ch <- prometheus.MustNewConstMetric(wueDesc, prometheus.GaugeValue, s.WUE, s.WUESource)
	}
	if !s.Started() {
		return // never read the share: no energy, and nothing priced from it
	}
	if s.Host != "" || s.Domain != "" || s.UUID != "" || s.Mode != "" {
		ch <- prometheus.MustNewConstMetric(infoDesc, prometheus.GaugeValue, 1, s.Host, s.Domain, s.UUID, s.Mode)
	}
	if !s.LastUpdate.IsZero() {
		ch <- prometheus.MustNewConstMetric(lastUpdateDesc, prometheus.GaugeValue,
			unixSeconds(s.LastUpdate))
	}
	for _, p := range provenances(s) {
		zones := s.EnergyByProvenance[p]
		if len(s.EnergyByProvenance) == 0 {
			zones = s.EnergyUJ // a Sample made without the split: all of it as it says
		}
		for _, z := range sortedKeys(zones) {
			ch <- prometheus.MustNewConstMetric(energyDesc, prometheus.CounterValue, float64(zones[z])/1e6, z, p.Method, p.Model)
		}
	}
	if have && s.PowerKnownAt(now()) {
		p := s.Provenance()
		if _, ok := s.EnergyByProvenance[p]; !ok && len(s.EnergyByProvenance) >= account.MaxProvenances {
			p.Model = account.ModelOther // as its energy is counted (account.MaxProvenances)
		}
		for _, z := range sortedKeys(s.PowerW) {
			ch <- prometheus.MustNewConstMetric(powerDesc, prometheus.GaugeValue, s.PowerW[z], z, p.Method, p.Model)
		}
	}
	parts := emissionParts(s)
	for _, p := range sortedKeys(parts) {
		ch <- prometheus.MustNewConstMetric(emissionsDesc, prometheus.CounterValue, parts[p], p)
	}
	ch <- prometheus.MustNewConstMetric(waterDesc, prometheus.CounterValue, s.WaterLiters)
	if s.EmbodiedSource != "" || s.EmbodiedGrams > 0 {
		ch <- prometheus.MustNewConstMetric(embodiedDesc, prometheus.CounterValue, s.EmbodiedGrams)
	}
}

// emissionParts is s's emissions by part, to export: those it holds, and
// at least dynamic and idle (unsplit for a tree-only share) at 0 before
// they have energy, so that the sum over parts is there from the first
// read. A Sample that holds no parts but emissions (a sampler that does
// not split) exports them as unsplit.
func emissionParts(s measure.Sample) map[string]float64 {
	parts := map[string]float64{}
	switch {
	case len(s.EmissionsPartGrams) == 0 && s.EmissionsGrams != 0:
		parts[measure.PartUnsplit] = s.EmissionsGrams
	case s.Mode == "tree":
		parts[measure.PartUnsplit] = 0
	default:
		parts[measure.PartDynamic], parts[measure.PartIdle] = 0, 0
	}
	for p, g := range s.EmissionsPartGrams {
		parts[p] = g
	}
	return parts
}

// provenances is every (method, model) s's energy has, sorted; s's own
// when it has no split.
func provenances(s measure.Sample) []measure.Provenance {
	if len(s.EnergyByProvenance) == 0 {
		return []measure.Provenance{s.Provenance()}
	}
	ps := make([]measure.Provenance, 0, len(s.EnergyByProvenance))
	for p := range s.EnergyByProvenance {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].Method != ps[j].Method {
			return ps[i].Method < ps[j].Method
		}
		return ps[i].Model < ps[j].Model
	})
	return ps
}

// reasons is every known reason plus any other present in m, sorted.
func reasons(m map[string]uint64) []string {
	set := map[string]bool{}
	for _, r := range follow.Reasons {
		set[r] = true
	}
	for r := range m {
		set[r] = true
	}
	return sortedKeys(set)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// unixSeconds is t in seconds since the epoch. UnixNano would overflow
// past 2262 (a host's timestamp is a stranger's input, up to year 9999).
func unixSeconds(t time.Time) float64 {
	return float64(t.Unix()) + float64(t.Nanosecond())/1e9
}
