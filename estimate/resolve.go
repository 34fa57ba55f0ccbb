package estimate

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// WorldAverageGPerKWh is the fallback carbon intensity, gCO2e/kWh: the world
// average of the IEA's Global Energy & CO2 Status Report 2019 (2018 data),
// as used by CodeCarbon.
const WorldAverageGPerKWh = 475.0

// WorldAverageYear is the year of the report WorldAverageGPerKWh comes from.
const WorldAverageYear = 2019

// Fixed Intensity.Source values. Table-derived sources are built as
// "country:FRA (Our World in Data 2023)", "region:USA/CA (EPA eGRID 2016)",
// "region:SE3 (ENTSO-E 2024)", "cloud:gcp/europe-west9 (Google Cloud region
// carbon data 2024)" or "cloud:aws/us-east-1 (CodeCarbon cloud_regions_impact)";
// a host value is "host" or "host:" followed by the host's own source.
const (
	SourceOverride     = "override"
	SourceHost         = "host"
	SourceWorldAverage = "world-average"
)

// ErrUnknown is wrapped by every error about a country, region or cloud
// region that has no embedded data. The message names the value and how to
// list the valid ones.
var ErrUnknown = errors.New("no carbon-intensity data")

// Hints appended to ErrUnknown messages: the agents' listing flags.
const (
	listCountriesHint = "list them with --list-countries"
	listRegionsHint   = "list them with --list-countries (regions are shown with their country)"
	listCloudHint     = "list them with --list-cloud-regions"
)

// Intensity is a grid carbon intensity and where it came from.
type Intensity struct {
	GPerKWh float64 // gCO2e per kWh
	Source  string  // see SourceOverride and the forms listed with it
	Year    int     // year the figure describes; 0 when unknown (override, host, some cloud rows)
}

// Lookup is what the user and the host said about the location. Zero
// values mean "not given", except that Override is given whenever
// OverrideSet is true (so that an explicit 0 gCO2e/kWh counts).
type Lookup struct {
	Override      float64 // user's own figure, gCO2e/kWh
	OverrideSet   bool    // Override was given, even as 0
	HostValue     float64 // figure from the host record, gCO2e/kWh
	HostSource    string  // the host's description of HostValue
	Country       string  // ISO 3166 alpha-2 or alpha-3, case-insensitive
	Region        string  // US state (code or name) or Nordic bidding zone (SE1–SE4, NO1–NO5, FI)
	CloudProvider string  // e.g. "aws", "gcp", "azure"; may be empty if CloudRegion is unique
	CloudRegion   string  // e.g. "us-east-1"
}

// Resolve picks the carbon intensity in force, first found:
//  1. Override, when OverrideSet or > 0 (an explicit 0 is a 0 g/kWh grid);
//  2. HostValue, when > 0 (a non-finite host value is ignored);
//  3. Country, refined by Region when given (Region alone also works for a
//     US state or a Nordic zone);
//  4. CloudProvider/CloudRegion;
//  5. WorldAverageGPerKWh.
//
// A country, region or cloud region that was given but has no data is an
// error wrapping ErrUnknown: it never silently falls through to the world
// average. A non-finite or negative Override is an error too.
func Resolve(l Lookup) (Intensity, error) {
	if math.IsNaN(l.Override) || math.IsInf(l.Override, 0) || l.Override < 0 {
		return Intensity{}, fmt.Errorf("carbon-intensity override %v: want a finite value ≥ 0 gCO2e/kWh", l.Override)
	}
	if l.OverrideSet || l.Override > 0 {
		return Intensity{GPerKWh: l.Override, Source: SourceOverride}, nil
	}
	if l.HostValue > 0 && !math.IsInf(l.HostValue, 0) {
		src := SourceHost
		if s := strings.TrimSpace(l.HostSource); s != "" {
			src += ":" + s
		}
		return Intensity{GPerKWh: l.HostValue, Source: src}, nil
	}
	country := strings.TrimSpace(l.Country)
	region := strings.TrimSpace(l.Region)
	provider := strings.TrimSpace(l.CloudProvider)
	cloudRegion := strings.TrimSpace(l.CloudRegion)
	if country == "" && region == "" && provider == "" && cloudRegion == "" {
		return Intensity{GPerKWh: WorldAverageGPerKWh, Source: SourceWorldAverage, Year: WorldAverageYear}, nil
	}
	t, err := loadTables()
	if err != nil {
		return Intensity{}, err
	}
	if country != "" || region != "" {
		return t.resolveLocation(country, region)
	}
	c, err := t.cloud.lookup(provider, cloudRegion)
	if err != nil {
		return Intensity{}, err
	}
	desc := c.Table
	if c.Year != 0 {
		desc = fmt.Sprintf("%s %d", c.Table, c.Year)
	}
	return Intensity{
		GPerKWh: c.GPerKWh,
		Source:  fmt.Sprintf("cloud:%s/%s (%s)", c.Provider, c.Region, desc),
		Year:    c.Year,
	}, nil
}

func (t *tables) resolveLocation(country, region string) (Intensity, error) {
	alpha3 := ""
	if country != "" {
		c, err := t.countries.lookup(country)
		if err != nil {
			return Intensity{}, err
		}
		if region == "" {
			return Intensity{
				GPerKWh: c.GPerKWh,
				Source:  fmt.Sprintf("country:%s (%s %d)", c.Alpha3, CountrySource, c.Year),
				Year:    c.Year,
			}, nil
		}
		alpha3 = c.Alpha3
	}
	r, err := t.region(alpha3, region)
	if err != nil {
		return Intensity{}, err
	}
	return Intensity{
		GPerKWh: r.GPerKWh,
		Source:  fmt.Sprintf("region:%s (%s %d)", r.Key, r.Source, r.Year),
		Year:    r.Year,
	}, nil
}
