package view

import (
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
)

// WriteTable writes the per-VM split of the last tick as a table (--once);
// its last row is the host's power, labelled by how it was obtained.
func WriteTable(w io.Writer, s *Host) error {
	if s == nil {
		return fmt.Errorf("no reading taken")
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	header := "DOMAIN\tSTATE\tVCPUS\tCPU%\t"
	for _, z := range s.Zones {
		header += z + "_W\t"
	}
	fmt.Fprintln(tw, header)
	doms := append([]Domain(nil), s.Domains...)
	sort.Slice(doms, func(i, j int) bool { return doms[i].Name < doms[j].Name })
	total := map[string]float64{}
	for _, d := range doms {
		line := fmt.Sprintf("%s\t%s\t%d\t%.1f\t", d.Name, d.State, d.VCPUs, 100*d.CPUShare)
		for i, z := range s.Zones {
			w, _ := d.Power(i)
			line += fmt.Sprintf("%.2f\t", w)
			total[z] += w
		}
		fmt.Fprintln(tw, line)
	}
	host := "(host share)\t\t\t\t"
	all := "(measured)\t\t\t\t"
	if s.Method != "" && s.Method != "measured" {
		all = "(" + s.Method + ", " + s.Model + ")\t\t\t\t" // e.g. (estimated, tdp)
	}
	for _, z := range s.Zones {
		measured := s.HostPowerW[z]
		host += fmt.Sprintf("%.2f\t", measured-total[z])
		all += fmt.Sprintf("%.2f\t", measured)
	}
	fmt.Fprintln(tw, host)
	fmt.Fprintln(tw, all)
	return tw.Flush()
}
