package estimate

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// LbsPerMWhToGPerKWh converts pounds of CO2 per MWh (the unit of the EPA
// eGRID state table) to grams per kWh: 453.59237 g/lb ÷ 1000 kWh/MWh.
const LbsPerMWhToGPerKWh = 0.45359237

// regionEntry is one sub-national region: a US state or a Nordic bidding zone.
type regionEntry struct {
	Key     string // "USA/CA", "SE3"
	Country string // ISO alpha-3 of the country it lies in
	Name    string
	GPerKWh float64
	Year    int
	Source  string
}

func parseUSStates(d namedData) (map[string]regionEntry, error) {
	var raw map[string]struct {
		Emissions  json.RawMessage `json:"emissions"`
		RegionCode string          `json:"regionCode"`
	}
	if err := json.Unmarshal(d.b, &raw); err != nil {
		return nil, fmt.Errorf("embedded %s: %w", d.name, err)
	}
	states := make(map[string]regionEntry, 2*len(raw))
	for name, v := range raw {
		code := strings.ToUpper(v.RegionCode)
		if name == "_unit" || len(code) != 2 { // "_unit" documents lbs/MWh; "usa" is the national average
			continue
		}
		var lbs float64
		if err := json.Unmarshal(v.Emissions, &lbs); err != nil || lbs < 0 {
			return nil, fmt.Errorf("embedded %s: %s: bad emissions %s", d.name, name, v.Emissions)
		}
		e := regionEntry{
			Key: "USA/" + code, Country: "USA", Name: name,
			GPerKWh: lbs * LbsPerMWhToGPerKWh, Year: USStateYear, Source: USStateSource,
		}
		states[strings.ToLower(code)] = e
		states[strings.ToLower(name)] = e
	}
	if len(states) == 0 {
		return nil, fmt.Errorf("embedded %s: no states", d.name)
	}
	return states, nil
}

// nordicCountry maps a bidding zone's prefix to its country.
var nordicCountry = map[string]string{"SE": "SWE", "NO": "NOR", "FI": "FIN", "DK": "DNK"}

func parseNordic(d namedData) (map[string]regionEntry, error) {
	var raw struct {
		Data map[string]struct {
			EmissionFactor *float64 `json:"emission_factor"`
			Unit           string   `json:"unit"`
			Description    string   `json:"description"`
			Year           int      `json:"year"`
		} `json:"data"`
	}
	if err := json.Unmarshal(d.b, &raw); err != nil {
		return nil, fmt.Errorf("embedded %s: %w", d.name, err)
	}
	zones := make(map[string]regionEntry, len(raw.Data))
	for zone, v := range raw.Data {
		zone = strings.ToUpper(zone)
		if v.EmissionFactor == nil || *v.EmissionFactor < 0 || v.Unit != "gCO2eq/kWh" {
			return nil, fmt.Errorf("embedded %s: zone %s: want emission_factor in gCO2eq/kWh", d.name, zone)
		}
		country, ok := nordicCountry[zone[:min(2, len(zone))]]
		if !ok {
			return nil, fmt.Errorf("embedded %s: zone %s: unknown country prefix", d.name, zone)
		}
		zones[zone] = regionEntry{
			Key: zone, Country: country, Name: v.Description,
			GPerKWh: *v.EmissionFactor, Year: v.Year, Source: NordicSource,
		}
	}
	if len(zones) == 0 {
		return nil, fmt.Errorf("embedded %s: no zones", d.name)
	}
	return zones, nil
}

// region resolves a region within a country (alpha-3, or "" when the user
// gave none).
func (t *tables) region(country, region string) (regionEntry, error) {
	r := strings.TrimSpace(region)
	zone, isZone := t.nordic[strings.ToUpper(r)]
	state, isState := t.usStates[strings.ToLower(strings.Join(strings.Fields(r), " "))]
	switch {
	case country == "" && isZone:
		return zone, nil
	case country == "" && isState:
		return state, nil
	case country == "USA" && isState:
		return state, nil
	case country != "" && isZone && zone.Country == country:
		return zone, nil
	case country == "USA":
		return regionEntry{}, fmt.Errorf("%w: US state %q: want a two-letter code or name such as CA or California; %s",
			ErrUnknown, region, listRegionsHint)
	case country == "SWE" || country == "NOR" || country == "FIN":
		return regionEntry{}, fmt.Errorf("%w: bidding zone %q in %s: known zones are %s; %s",
			ErrUnknown, region, country, strings.Join(t.zonesOf(country), ", "), listRegionsHint)
	case country != "":
		return regionEntry{}, fmt.Errorf("%w: region %q in %s: regional data exists only for USA (states) and SWE, NOR, FIN (bidding zones); leave the region empty to use the country figure",
			ErrUnknown, region, country)
	default:
		return regionEntry{}, fmt.Errorf("%w: region %q: want a US state (code or name) or a Nordic bidding zone (%s); %s",
			ErrUnknown, region, strings.Join(t.zonesOf(""), ", "), listRegionsHint)
	}
}

// zonesOf lists the Nordic zones of a country ("" for all), sorted.
func (t *tables) zonesOf(country string) []string {
	var zones []string
	for z, e := range t.nordic {
		if country == "" || e.Country == country {
			zones = append(zones, z)
		}
	}
	sort.Strings(zones)
	return zones
}

// Regions returns the regions with their own figures within a country given
// as an ISO alpha-2 or alpha-3 code: two-letter state codes for the United
// States, bidding zones for Sweden, Norway and Finland, nil otherwise.
func Regions(country string) []string {
	t, err := loadTables()
	if err != nil {
		return nil
	}
	c, err := t.countries.lookup(country)
	if err != nil {
		return nil
	}
	if c.Alpha3 != "USA" {
		return t.zonesOf(c.Alpha3)
	}
	var states []string
	for k, e := range t.usStates {
		if len(k) == 2 {
			states = append(states, e.Key[len("USA/"):])
		}
	}
	sort.Strings(states)
	return states
}
