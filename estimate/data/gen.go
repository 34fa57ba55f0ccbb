//go:build ignore

// gen.go writes countries.csv, the compact per-country table embedded by
// package estimate, from Our World in Data's energy dataset (as republished
// in CodeCarbon's global_energy_mix.json) and the ISO 3166-1 code table of
// Debian's iso-codes package (for the alpha-2 codes).
//
// Run from this directory:
//
//	go run gen.go -mix ../../../shared/data/global_energy_mix.json \
//	    -iso /usr/share/iso-codes/json/iso_3166-1.json -out countries.csv
package main

import (
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"sort"
	"strconv"
)

type mixEntry struct {
	CarbonIntensity *float64 `json:"carbon_intensity"`
	CountryName     string   `json:"country_name"`
	ISOCode         string   `json:"iso_code"`
	Year            int      `json:"year"`
}

type isoFile struct {
	Countries []struct {
		Alpha2 string `json:"alpha_2"`
		Alpha3 string `json:"alpha_3"`
	} `json:"3166-1"`
}

func main() {
	mixPath := flag.String("mix", "../../../shared/data/global_energy_mix.json", "global_energy_mix.json (Our World in Data)")
	isoPath := flag.String("iso", "/usr/share/iso-codes/json/iso_3166-1.json", "ISO 3166-1 table from Debian's iso-codes package")
	out := flag.String("out", "countries.csv", "output file")
	flag.Parse()
	if err := run(*mixPath, *isoPath, *out); err != nil {
		log.Fatal(err)
	}
}

func run(mixPath, isoPath, out string) error {
	var mix map[string]mixEntry
	if err := readJSON(mixPath, &mix); err != nil {
		return err
	}
	var iso isoFile
	if err := readJSON(isoPath, &iso); err != nil {
		return err
	}
	alpha2 := make(map[string]string, len(iso.Countries))
	for _, c := range iso.Countries {
		alpha2[c.Alpha3] = c.Alpha2
	}
	codes := make([]string, 0, len(mix))
	for code := range mix {
		codes = append(codes, code)
	}
	sort.Strings(codes)

	f, err := os.Create(out)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	_ = w.Write([]string{"alpha3", "alpha2", "name", "g_per_kwh", "year"})
	for _, code := range codes {
		e := mix[code]
		if e.CarbonIntensity == nil {
			return fmt.Errorf("%s: %s has no carbon_intensity", mixPath, code)
		}
		a2, ok := alpha2[code]
		if !ok {
			return fmt.Errorf("%s: %s is not an ISO 3166-1 alpha-3 code in %s", mixPath, code, isoPath)
		}
		_ = w.Write([]string{code, a2, e.CountryName,
			strconv.FormatFloat(*e.CarbonIntensity, 'f', -1, 64), strconv.Itoa(e.Year)})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
