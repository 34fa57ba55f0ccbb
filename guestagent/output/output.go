// Package output renders measure.Samples for people and tools that do not
// scrape Prometheus: a CSV file with CodeCarbon's emissions.csv columns, a
// JSON-lines file, and an HTTP webhook. Each is optional; each returns its
// errors to the agent, which counts and logs them and never stops for them.
package output

import (
	"context"
	"math"
	"time"

	"github.com/virtwatt/virtwatt/guestagent/measure"
)

// Sink receives every Sample the agent makes.
type Sink interface {
	// Emit hands over one Sample. It never blocks on the network.
	Emit(ctx context.Context, s measure.Sample) error
	// Close flushes what is pending and releases the sink.
	Close() error
}

// Record is the JSON document written per Sample by the JSON-lines file and
// POSTed by the webhook. Energy is the agent's cumulative, monotonic
// counter; power is absent when unknown or stale (never a fake 0).
//
//	time                        guest clock of the sample (RFC 3339)
//	host_time                   host clock of the share record it came from (absent for a tree-only share)
//	last_update                 when the share last changed
//	up                          the share is present, valid and fresh
//	mode                        "record" or "tree": how the share was read; "estimate" while no share is usable
//	method, model               how the energy and power were obtained: measured/rapl (the host's RAPL),
//	                            estimated/tdp or calibrated (the host's estimate), estimated/ccf (the guest's own)
//	host, domain, uuid, labels  the VM, as the host names it
//	energy_uj                   cumulative µJ per zone ("package", "dram")
//	energy_joules               cumulative J over every zone
//	power_watts                 W per zone, only the zones whose power is known
//	power_watts_total           W over every zone, absent unless every zone's power is known
//	emissions_grams             cumulative operational gCO2e, PUE included
//	water_liters                cumulative L (energy × WUE)
//	embodied_grams              cumulative embodied gCO2e share, absent when the host gives none
//	carbon_intensity_g_per_kwh  with carbon_intensity_source
//	pue, pue_source, wue, wue_source, embodied_source
//
// energy_*, emissions_grams, water_liters and embodied_grams are absent
// until the share was first read (no invented zeros).
type Record struct {
	Time            time.Time          `json:"time"`
	HostTime        *time.Time         `json:"host_time,omitempty"`
	LastUpdate      *time.Time         `json:"last_update,omitempty"`
	Up              bool               `json:"up"`
	Mode            string             `json:"mode,omitempty"`
	Method          string             `json:"method,omitempty"`
	Model           string             `json:"model,omitempty"`
	Host            string             `json:"host,omitempty"`
	Domain          string             `json:"domain,omitempty"`
	UUID            string             `json:"uuid,omitempty"`
	Labels          map[string]string  `json:"labels,omitempty"`
	EnergyUJ        map[string]uint64  `json:"energy_uj,omitempty"`
	EnergyJoules    *float64           `json:"energy_joules,omitempty"`
	PowerW          map[string]float64 `json:"power_watts,omitempty"`
	PowerWTotal     *float64           `json:"power_watts_total,omitempty"`
	EmissionsGrams  *float64           `json:"emissions_grams,omitempty"`
	WaterLiters     *float64           `json:"water_liters,omitempty"`
	EmbodiedGrams   *float64           `json:"embodied_grams,omitempty"`
	Intensity       float64            `json:"carbon_intensity_g_per_kwh"`
	IntensitySource string             `json:"carbon_intensity_source,omitempty"`
	PUE             float64            `json:"pue"`
	PUESource       string             `json:"pue_source,omitempty"`
	WUE             float64            `json:"wue"`
	WUESource       string             `json:"wue_source,omitempty"`
	EmbodiedSource  string             `json:"embodied_source,omitempty"`
}

// NewRecord converts a Sample to its JSON document. A figure that is not a
// finite number (none should be: the accountant keeps them finite) is
// left out, as an unknown one is: JSON has no Inf or NaN, and a line must
// never be lost to one.
func NewRecord(s measure.Sample) Record {
	r := Record{
		Time:            s.Time,
		Up:              s.Up,
		Mode:            s.Mode,
		Host:            s.Host,
		Domain:          s.Domain,
		UUID:            s.UUID,
		Labels:          s.Labels,
		EnergyUJ:        s.EnergyUJ,
		Intensity:       finiteOr0(s.IntensityGPerKWh),
		IntensitySource: s.IntensitySource,
		PUE:             finiteOr0(s.PUE),
		PUESource:       s.PUESource,
		WUE:             finiteOr0(s.WUE),
		WUESource:       s.WUESource,
		EmbodiedSource:  s.EmbodiedSource,
	}
	if s.Started() {
		p := s.Provenance()
		r.Method, r.Model = p.Method, p.Model
		// Before the share was ever read there is no energy, and nothing
		// priced from it: the numbers are absent, never zeros.
		r.EnergyJoules = finitePtr(float64(s.TotalEnergyUJ()) / 1e6)
		r.EmissionsGrams = finitePtr(s.EmissionsGrams)
		r.WaterLiters = finitePtr(s.WaterLiters)
		if s.EmbodiedSource != "" || s.EmbodiedGrams > 0 {
			r.EmbodiedGrams = finitePtr(s.EmbodiedGrams)
		}
	}
	if !s.HostTime.IsZero() {
		t := s.HostTime
		r.HostTime = &t
	}
	if !s.LastUpdate.IsZero() {
		t := s.LastUpdate
		r.LastUpdate = &t
	}
	for z, w := range s.PowerW {
		if !isFinite(w) {
			continue
		}
		if r.PowerW == nil {
			r.PowerW = make(map[string]float64, len(s.PowerW))
		}
		r.PowerW[z] = w
	}
	if p, ok := s.TotalPowerW(); ok {
		r.PowerWTotal = finitePtr(p)
	}
	return r
}

func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// finitePtr is &v, or nil when v is not finite.
func finitePtr(v float64) *float64 {
	if !isFinite(v) {
		return nil
	}
	return &v
}

// finiteOr0 is v, or 0 when v is not finite (for the factors, which the
// record always carries).
func finiteOr0(v float64) float64 {
	if !isFinite(v) {
		return 0
	}
	return v
}
