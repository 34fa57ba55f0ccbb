package estimate

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// CountryData is one country's row in the embedded Our World in Data table.
type CountryData struct {
	Alpha3  string  // ISO 3166-1 alpha-3, e.g. "FRA"
	Alpha2  string  // ISO 3166-1 alpha-2, e.g. "FR"
	Name    string  // English short name, e.g. "France"
	GPerKWh float64 // carbon intensity of electricity generation, gCO2e/kWh
	Year    int     // year the figure describes
}

// countryTable indexes countries by upper-case alpha-3 and alpha-2 code.
type countryTable struct {
	byCode map[string]CountryData
	alpha3 []string // sorted
}

// countryAliases maps common non-ISO codes to their ISO alpha-3 code.
var countryAliases = map[string]string{
	"UK": "GBR", // the United Kingdom's ISO alpha-2 code is GB
}

func parseCountries(d namedData) (countryTable, error) {
	rows, err := readCSV(d, "alpha3", "alpha2", "name", "g_per_kwh", "year")
	if err != nil {
		return countryTable{}, err
	}
	t := countryTable{byCode: make(map[string]CountryData, 2*len(rows))}
	for i, row := range rows {
		g, err := strconv.ParseFloat(row["g_per_kwh"], 64)
		if err != nil || g < 0 {
			return countryTable{}, fmt.Errorf("embedded %s: line %d: bad g_per_kwh %q", d.name, i+2, row["g_per_kwh"])
		}
		year, err := strconv.Atoi(row["year"])
		if err != nil {
			return countryTable{}, fmt.Errorf("embedded %s: line %d: bad year %q", d.name, i+2, row["year"])
		}
		c := CountryData{
			Alpha3: strings.ToUpper(row["alpha3"]), Alpha2: strings.ToUpper(row["alpha2"]),
			Name: row["name"], GPerKWh: g, Year: year,
		}
		if len(c.Alpha3) != 3 || len(c.Alpha2) != 2 {
			return countryTable{}, fmt.Errorf("embedded %s: line %d: bad codes %q/%q", d.name, i+2, c.Alpha3, c.Alpha2)
		}
		t.byCode[c.Alpha3] = c
		t.byCode[c.Alpha2] = c
		t.alpha3 = append(t.alpha3, c.Alpha3)
	}
	sort.Strings(t.alpha3)
	return t, nil
}

// lookup finds a country by alpha-2 or alpha-3 code, case-insensitively.
func (t countryTable) lookup(code string) (CountryData, error) {
	key := strings.ToUpper(strings.TrimSpace(code))
	if a, ok := countryAliases[key]; ok {
		key = a
	}
	if c, ok := t.byCode[key]; ok {
		return c, nil
	}
	hint := ""
	for _, a3 := range t.alpha3 {
		if c := t.byCode[a3]; strings.EqualFold(c.Name, strings.TrimSpace(code)) {
			hint = fmt.Sprintf(" (did you mean %s or %s?)", c.Alpha2, c.Alpha3)
			break
		}
	}
	return CountryData{}, fmt.Errorf("%w: country %q%s: want an ISO 3166 alpha-2 or alpha-3 code such as FR or FRA; %d countries have data, %s",
		ErrUnknown, code, hint, len(t.alpha3), listCountriesHint)
}

// Countries returns the ISO alpha-3 codes of every country with embedded
// carbon-intensity data, sorted. Use Country for a code's details.
func Countries() []string {
	t, err := loadTables()
	if err != nil {
		return nil
	}
	return append([]string(nil), t.countries.alpha3...)
}

// Country returns the embedded data for an ISO 3166 alpha-2 or alpha-3 code
// (case-insensitive). An unknown code gives an error wrapping ErrUnknown.
func Country(code string) (CountryData, error) {
	t, err := loadTables()
	if err != nil {
		return CountryData{}, err
	}
	return t.countries.lookup(code)
}
