package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/virtwatt/virtwatt/estimate"
)

// listCountries prints every country with embedded carbon-intensity data,
// with its regions where it has some.
func listCountries(w io.Writer) {
	fmt.Fprintf(w, "%-6s %-5s %8s %5s  %s\n", "alpha3", "alpha2", "g/kWh", "year", "name [regions]")
	for _, code := range estimate.Countries() {
		c, err := estimate.Country(code)
		if err != nil {
			continue
		}
		line := fmt.Sprintf("%-6s %-5s %8.1f %5d  %s", c.Alpha3, c.Alpha2, c.GPerKWh, c.Year, c.Name)
		if rs := estimate.Regions(c.Alpha3); len(rs) > 0 {
			line += " [" + strings.Join(rs, " ") + "]"
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintf(w, "\nsource: %s; without any setting the world average, %.0f g/kWh, is used\n",
		estimate.CountrySource, estimate.WorldAverageGPerKWh)
}

// listCloudRegions prints every cloud region with embedded data.
func listCloudRegions(w io.Writer) {
	fmt.Fprintf(w, "%-10s %-28s %8s  %s\n", "provider", "region", "g/kWh", "name (source)")
	for _, pr := range estimate.CloudRegions("") {
		prov, reg, _ := strings.Cut(pr, "/")
		c, err := estimate.Cloud(prov, reg)
		if err != nil {
			continue
		}
		src := c.Table
		if c.Year != 0 {
			src = fmt.Sprintf("%s %d", c.Table, c.Year)
		}
		fmt.Fprintf(w, "%-10s %-28s %8.1f  %s (%s)\n", c.Provider, c.Region, c.GPerKWh, c.Name, src)
	}
}
