// Package report is a footprint in the parts of BLOOM's table (Luccioni,
// Viguier and Ligozat, "Estimating the Carbon Footprint of BLOOM", 2022:
// embodied 22 %, dynamic 49 %, idle 29 % of the total): embodied, dynamic
// and idle emissions in grams CO2e and in percent of their total, with
// the source of every factor. `virtwatt-guest report` prints the VM's
// (From: its cumulative counters), the end of `track` a command's (Between:
// the run's steps, scaled to the command's share).
//
// It renders measure.Samples and computes nothing else: the parts are the
// accountant's (package account), each energy step priced at the
// intensity and PUE of its record, the embodied grams the host's counter.
// Invariants: every gram of the Sample's emissions and embodied figure is
// in exactly one part; percents are of the parts' sum, and sum to 100
// when it is not 0 (absent otherwise: no 0/0).
package report

import (
	"time"

	"github.com/virtwatt/virtwatt/guestagent/measure"
)

// Part is one row of the table.
type Part struct {
	Name  string  `json:"part"` // measure.PartEmbodied, PartDynamic, PartIdle, PartUnsplit
	Grams float64 `json:"grams"`
	// Percent of Breakdown.TotalGrams; nil when the total is 0.
	Percent *float64 `json:"percent,omitempty"`
	// EnergyJ is the energy priced into the part (none for embodied).
	EnergyJ *float64 `json:"energy_joules,omitempty"`
}

// Sources say where every factor came from.
type Sources struct {
	IntensityGPerKWh float64 `json:"carbon_intensity_g_per_kwh"`
	IntensitySource  string  `json:"carbon_intensity_source"`
	IntensityZone    string  `json:"carbon_intensity_zone,omitempty"`
	IntensityTime    string  `json:"carbon_intensity_time,omitempty"` // RFC 3339
	PUE              float64 `json:"pue"`
	PUESource        string  `json:"pue_source"`
	EmbodiedSource   string  `json:"embodied_source"` // "" when the host gives no embodied figure
	Method           string  `json:"method,omitempty"`
	Model            string  `json:"model,omitempty"`
	IdleModel        string  `json:"idle_model,omitempty"`
	CPUModel         string  `json:"cpu_model,omitempty"`
}

// Breakdown is the table.
type Breakdown struct {
	// Scope: "vm" or "command"; Reads says what the figures come from.
	Scope string `json:"scope"`
	Reads string `json:"reads"`
	// The VM as its host names it, and the host time of the last update
	// (RFC 3339), when known.
	Host   string `json:"host,omitempty"`
	Domain string `json:"domain,omitempty"`
	UUID   string `json:"uuid,omitempty"`
	AsOf   string `json:"as_of,omitempty"`

	Parts      []Part  `json:"parts"`
	TotalGrams float64 `json:"total_grams"`
	Sources    Sources `json:"sources"`
}

// Scopes of a Breakdown.
const (
	ScopeVM      = "vm"
	ScopeCommand = "command"
)

// order is the table's rows: BLOOM's three, then energy no one split.
var order = []string{measure.PartEmbodied, measure.PartDynamic, measure.PartIdle, measure.PartUnsplit}

// From is the breakdown of s's cumulative figures.
func From(s measure.Sample) Breakdown {
	return build(s, measure.Sample{})
}

// Between is the breakdown of what grew from s0 to s1 (a part that went
// down, which the accountant never does, counts 0).
func Between(s0, s1 measure.Sample) Breakdown {
	return build(s1, s0)
}

func build(s1, s0 measure.Sample) Breakdown {
	b := Breakdown{Scope: ScopeVM, Sources: sourcesOf(s1), Host: s1.Host, Domain: s1.Domain, UUID: s1.UUID}
	if !s1.LastUpdate.IsZero() {
		b.AsOf = s1.LastUpdate.UTC().Format(time.RFC3339)
	}
	grams := map[string]float64{measure.PartEmbodied: max(0, s1.EmbodiedGrams-s0.EmbodiedGrams)}
	energy := map[string]float64{}
	parts := s1.EmissionsPartGrams
	if len(parts) == 0 && s1.EmissionsGrams != 0 {
		// A Sample from a sampler that does not split.
		parts = map[string]float64{measure.PartUnsplit: s1.EmissionsGrams}
		s0.EmissionsPartGrams = map[string]float64{measure.PartUnsplit: s0.EmissionsGrams}
	}
	for p, g := range parts {
		grams[p] = max(0, g-s0.EmissionsPartGrams[p])
	}
	for p, e := range s1.EnergyPartUJ {
		if old := s0.EnergyPartUJ[p]; e > old {
			energy[p] = float64(e-old) / 1e6
		} else {
			energy[p] = 0
		}
	}
	for _, p := range order {
		g := grams[p]
		_, hasEnergy := energy[p]
		if p == measure.PartUnsplit && g == 0 && energy[p] == 0 {
			continue // only when something was not split
		}
		part := Part{Name: p, Grams: g}
		if hasEnergy || p == measure.PartDynamic || p == measure.PartIdle {
			j := energy[p]
			part.EnergyJ = &j
		}
		b.Parts = append(b.Parts, part)
	}
	b.total()
	return b
}

// total sets TotalGrams and the percents.
func (b *Breakdown) total() {
	b.TotalGrams = 0
	for _, p := range b.Parts {
		b.TotalGrams += p.Grams
	}
	for i := range b.Parts {
		b.Parts[i].Percent = nil
		if b.TotalGrams > 0 {
			pc := 100 * b.Parts[i].Grams / b.TotalGrams
			b.Parts[i].Percent = &pc
		}
	}
}

// Scaled is b for a share f (0..1) of it, as scope: every part's grams
// and energy times f; the percents stay.
func (b Breakdown) Scaled(f float64, scope, reads string) Breakdown {
	out := b
	out.Scope, out.Reads = scope, reads
	out.Parts = make([]Part, len(b.Parts))
	for i, p := range b.Parts {
		p.Grams *= f
		if p.EnergyJ != nil {
			j := *p.EnergyJ * f
			p.EnergyJ = &j
		}
		out.Parts[i] = p
	}
	out.total()
	return out
}

func sourcesOf(s measure.Sample) Sources {
	src := Sources{
		IntensityGPerKWh: s.IntensityGPerKWh, IntensitySource: s.IntensitySource, IntensityZone: s.IntensityZone,
		PUE: s.PUE, PUESource: s.PUESource, EmbodiedSource: s.EmbodiedSource,
		Method: s.Method, Model: s.Model, IdleModel: s.IdleModel, CPUModel: s.CPUModel,
	}
	if !s.IntensityTime.IsZero() {
		src.IntensityTime = s.IntensityTime.UTC().Format(time.RFC3339)
	}
	return src
}
