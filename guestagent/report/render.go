package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/virtwatt/virtwatt/guestagent/measure"
)

// WriteText prints b as a table, each line after indent:
//
//	part        gCO2e        share      energy
//	embodied    0.0123       22.0 %
//	dynamic     0.0274       49.0 %     123.456 J
//	idle        0.0162       29.0 %     72.900 J
//	total       0.0559      100.0 %
//
// then the source of every factor.
func (b Breakdown) WriteText(w io.Writer, indent string) error {
	var s strings.Builder
	line := func(format string, args ...any) {
		s.WriteString(indent)
		s.WriteString(strings.TrimRight(fmt.Sprintf(format, args...), " "))
		s.WriteString("\n")
	}
	line("%-10s %-12s %9s   %s", "part", "gCO2e", "share", "energy")
	for _, p := range b.Parts {
		pc := "-"
		if p.Percent != nil {
			pc = fmt.Sprintf("%.1f %%", *p.Percent)
		}
		e := ""
		if p.EnergyJ != nil {
			e = fmt.Sprintf("%.3f J", *p.EnergyJ)
		}
		if p.Name == measure.PartEmbodied && b.Sources.EmbodiedSource == "" && p.Grams == 0 {
			e = "(the host gives no embodied figure)"
		}
		if p.Name == measure.PartUnsplit {
			e += " (a share that gives no dynamic/idle split)"
		}
		line("%-10s %-12.6g %9s   %s", p.Name, p.Grams, pc, strings.TrimSpace(e))
	}
	total := "-"
	if b.TotalGrams > 0 {
		total = "100.0 %"
	}
	line("%-10s %-12.6g %9s", "total", b.TotalGrams, total)
	src := b.Sources
	line("sources")
	ci := fmt.Sprintf("%.4g gCO2e/kWh, %s", src.IntensityGPerKWh, orUnknown(src.IntensitySource))
	var when []string
	if src.IntensityZone != "" {
		when = append(when, "zone "+src.IntensityZone)
	}
	if src.IntensityTime != "" {
		when = append(when, "published "+src.IntensityTime)
	}
	if len(when) > 0 {
		ci += " (" + strings.Join(when, ", ") + ")"
	}
	line("  %-17s %s", "carbon intensity", ci)
	line("  %-17s %.3g, %s", "PUE", src.PUE, orUnknown(src.PUESource))
	emb := src.EmbodiedSource
	if emb == "" {
		emb = "none given by the host"
	}
	line("  %-17s %s", "embodied", emb)
	line("  %-17s %s", "energy", energyProvenance(src))
	io.WriteString(w, s.String())
	return nil
}

// energyProvenance says how the energy was obtained, as the record says.
func energyProvenance(src Sources) string {
	if src.Method == "" {
		return "not said (a tree-only share: counters only)"
	}
	var b strings.Builder
	b.WriteString(src.Method)
	if src.Model != "" {
		fmt.Fprintf(&b, " by %s", src.Model)
	}
	if src.IdleModel != "" {
		fmt.Fprintf(&b, "; idle model %s", src.IdleModel)
	}
	if src.CPUModel != "" {
		fmt.Fprintf(&b, "; host CPU %s", src.CPUModel)
	}
	return b.String()
}

func orUnknown(s string) string {
	if s == "" {
		return "source unknown"
	}
	return s
}

// WriteJSON writes b as one indented JSON document.
func (b Breakdown) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(b)
}
