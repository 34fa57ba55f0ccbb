package track

import (
	"fmt"
	"strings"

	"github.com/virtwatt/virtwatt/guestagent/measure"
	"github.com/virtwatt/virtwatt/guestagent/report"
)

// footprint is the run's footprint in BLOOM's parts (package report): the
// VM's growth of each part between the start and the end samples, and the
// command's share of it (the same fraction of every part, as of the
// energy), nil when the VM's energy is unknown.
func footprint(s0, s1 measure.Sample, r Result) *report.Breakdown {
	if !r.Energy.Known {
		return nil
	}
	vm := report.Between(s0, s1)
	vm.Reads = "the VM's share between the start and the end of the run (its host window)"
	if r.AttributionNote != "" {
		return &vm
	}
	cmd := vm.Scaled(r.Fraction, report.ScopeCommand,
		fmt.Sprintf("the command's share (%.1f%% of the guest's CPU time) of the VM's, between the start and the end of the run", 100*r.Fraction))
	return &cmd
}

// writeFootprint adds the footprint's table to the summary.
func (r Result) writeFootprint(b *strings.Builder) {
	f := r.Footprint
	if f == nil {
		return
	}
	who := "the VM's during the run (the command's share is unknown)"
	if f.Scope == report.ScopeCommand {
		who = fmt.Sprintf("the command's (%.1f%% of the VM's during the run)", 100*r.Fraction)
	}
	fmt.Fprintf(b, "  footprint        %s, in the BLOOM paper's parts:\n", who)
	f.WriteText(b, "    ")
}
