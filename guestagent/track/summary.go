package track

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/virtwatt/virtwatt/estimate"
	"github.com/virtwatt/virtwatt/guestagent/measure"
	"github.com/virtwatt/virtwatt/guestagent/output"
	"github.com/virtwatt/virtwatt/share"
)

// WriteSummary prints the human summary, one fact per line:
//
//	virtwatt track: CMD ARGS
//	  exit code        N
//	  duration         S s
//	  VM energy        J J (kWh kWh) [package …, dram …]
//	  host window      FROM to TO (S s of host time …)
//	  command energy   J J (kWh kWh), P% of the guest's CPU time (c s of g s)
//	  emissions        g gCO2e (command), g gCO2e (VM); intensity … g/kWh (source), PUE … (source)
//	  water            L L (command), L L (VM); WUE … L/kWh (source)
//	  equivalents      (of the command's emissions and energy)
//	    V unit  name  source
func (r Result) WriteSummary(w io.Writer) {
	var b strings.Builder
	fmt.Fprintf(&b, "virtwatt track: %s\n", shellJoin(r.Argv))
	fmt.Fprintf(&b, "  exit code        %d\n", r.ExitCode)
	fmt.Fprintf(&b, "  duration         %.3f s\n", r.Duration.Seconds())
	e := r.Energy
	if !e.Known {
		fmt.Fprintf(&b, "  VM energy        unknown: %s\n", e.Reason)
		fmt.Fprintf(&b, "  command energy   unknown\n")
		io.WriteString(w, b.String())
		return
	}
	var zones []string
	for _, z := range r.zones() {
		zones = append(zones, fmt.Sprintf("%s %.3f J", z, float64(e.ZoneUJ[z])/1e6))
	}
	fmt.Fprintf(&b, "  VM energy        %.3f J (%.6g kWh) [%s]\n", float64(e.TotalUJ)/1e6, estimate.KWh(e.TotalUJ), strings.Join(zones, ", "))
	switch {
	case !e.FromEstimated && !e.ToEstimated:
		fmt.Fprintf(&b, "  host window      %s to %s (%.3f s of host time: the energy covers the host's updates, not the exact run)\n",
			e.From.Format(time.RFC3339Nano), e.To.Format(time.RFC3339Nano), e.To.Sub(e.From).Seconds())
	case e.FromEstimated && e.ToEstimated:
		fmt.Fprintf(&b, "  window           %s to %s (%.3f s of the guest's clock: the guest estimate's steps, not the exact run)\n",
			e.From.Format(time.RFC3339Nano), e.To.Format(time.RFC3339Nano), e.To.Sub(e.From).Seconds())
	default:
		fmt.Fprintf(&b, "  window           %s to %s (one end on the host's clock, the other on the guest's: the share and the guest's estimate)\n",
			e.From.Format(time.RFC3339Nano), e.To.Format(time.RFC3339Nano))
	}
	if hasEstimate(e.ByProvenance) {
		fmt.Fprintf(&b, "  method           %s\n", methods(e.ByProvenance))
	}
	if e.Stale {
		fmt.Fprintf(&b, "                   the share was not fresh at the start or the end: a lower bound\n")
	}
	if r.AttributionNote != "" {
		fmt.Fprintf(&b, "  command energy   unknown: %s\n", r.AttributionNote)
		io.WriteString(w, b.String())
		return
	}
	fmt.Fprintf(&b, "  command energy   %.3f J (%.6g kWh), %.1f%% of the guest's CPU time (%.2f s of %.2f s)\n",
		float64(r.CommandUJ)/1e6, estimate.KWh(r.CommandUJ), 100*r.Fraction, r.CommandCPU, r.GuestCPU)
	fmt.Fprintf(&b, "  emissions        %.6g gCO2e (command), %.6g gCO2e (VM); intensity %.4g g/kWh (%s), PUE %.3g (%s)\n",
		r.CommandGrams, e.EmissionsGrams, e.Intensity, orUnknown(e.IntensitySource), e.PUE, orUnknown(e.PUESource))
	fmt.Fprintf(&b, "  water            %.6g L (command), %.6g L (VM); WUE %.3g L/kWh (%s)\n",
		r.CommandLiters, e.WaterLiters, e.WUE, orUnknown(e.WUESource))
	r.writeFootprint(&b)
	fmt.Fprintf(&b, "  equivalents      (of the command's emissions and energy)\n")
	for _, q := range r.Equivalents {
		fmt.Fprintf(&b, "    %-12.4g %-10s %-20s %s\n", q.Value, q.Unit, q.Name, q.Source)
	}
	io.WriteString(w, b.String())
}

// hasEstimate reports whether any of the energy was estimated.
func hasEstimate(by map[measure.Provenance]uint64) bool {
	for p, v := range by {
		if p.Method == share.MethodEstimated && v > 0 {
			return true
		}
	}
	return false
}

// methods says how the VM's energy was obtained, largest part first:
// "estimated (ccf) 3.000 J, measured (rapl) 1.000 J".
func methods(by map[measure.Provenance]uint64) string {
	ps := slices.Collect(maps.Keys(by))
	slices.SortFunc(ps, func(a, b measure.Provenance) int {
		return cmp.Or(cmp.Compare(by[b], by[a]), cmp.Compare(a.Method, b.Method), cmp.Compare(a.Model, b.Model))
	})
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = fmt.Sprintf("%s (%s) %.3f J", p.Method, p.Model, float64(by[p])/1e6)
	}
	s := strings.Join(parts, ", ")
	if hasEstimate(by) {
		s += "; estimated: the guest's own Cloud Carbon Footprint estimate while no share was usable"
	}
	return s
}

// shellJoin quotes the arguments that need it, so that the line can be
// pasted back into a shell.
func shellJoin(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		if a != "" && !strings.ContainsAny(a, " \t\n'\"\\$`;&|<>()*?[]{}!#~") {
			q[i] = a
			continue
		}
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

func orUnknown(s string) string {
	if s == "" {
		return "source unknown"
	}
	return s
}

// CSVRow is the command's row for emissions.csv: tracking_mode "process",
// the command's share of energy (PUE included, as CodeCarbon writes it),
// emissions and water, and its mean IT power over the run.
func (r Result) CSVRow() output.Row {
	dur := r.Duration.Seconds()
	kg := r.CommandGrams / 1000
	pue := output.PUEFactor(r.Energy.PUE)
	row := output.Row{
		Timestamp:    r.End.Format(output.TimestampLayout),
		DurationS:    dur,
		EmissionsKg:  kg,
		CPUEnergyKWh: estimate.KWh(r.CommandZoneUJ[share.ZonePackage]) * pue,
		RAMEnergyKWh: estimate.KWh(r.CommandZoneUJ[share.ZoneDRAM]) * pue,
		EnergyKWh:    estimate.KWh(r.CommandUJ) * pue,
		WaterL:       r.CommandLiters * pue, // the VM's water is WUE × IT energy
		TrackingMode: "process",
		PUE:          r.Energy.PUE,
		WUE:          r.Energy.WUE,
	}
	if dur > 0 {
		row.EmissionsKgS = kg / dur
		cpu := float64(r.CommandZoneUJ[share.ZonePackage]) / 1e6 / dur
		ram := float64(r.CommandZoneUJ[share.ZoneDRAM]) / 1e6 / dur
		row.CPUPowerW, row.RAMPowerW = &cpu, &ram
	}
	return row
}
