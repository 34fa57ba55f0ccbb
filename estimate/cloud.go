package estimate

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// CloudRegion is one cloud region's row in the embedded tables.
type CloudRegion struct {
	Provider string  // lower case: "aws", "azure", "gcp", "ovh", "scaleway", "coreweave", "seeweb"
	Region   string  // lower case provider region id, e.g. "us-east-1"
	Name     string  // human name where known, e.g. "US East (N. Virginia)"
	Country  string  // country name as given by the table
	GPerKWh  float64 // carbon intensity of the region's grid, gCO2e/kWh
	PUE      float64 // data-centre PUE where the table gives one, else 0
	Year     int     // year the figure describes, 0 where the table does not say
	Table    string  // GCPSource or CloudSource
	Upstream string  // the table's own per-row source note, if any
}

// cloudTable indexes regions by provider then region.
type cloudTable map[string]map[string]CloudRegion

// gcpRegionFixes corrects known typos in the upstream GCP table.
var gcpRegionFixes = map[string]string{"me-cenrtal1": "me-central1"}

func parseCloud(gcp, multi namedData) (cloudTable, error) {
	t := cloudTable{}
	rows, err := readCSV(gcp, "provider", "region", "impact", "country_name")
	if err != nil {
		return nil, err
	}
	for i, row := range rows {
		g, err := strconv.ParseFloat(row["impact"], 64)
		if err != nil || g < 0 {
			return nil, fmt.Errorf("embedded %s: line %d: bad impact %q", gcp.name, i+2, row["impact"])
		}
		region := strings.ToLower(row["region"])
		if fixed, ok := gcpRegionFixes[region]; ok {
			region = fixed
		}
		t.add(CloudRegion{
			Provider: strings.ToLower(row["provider"]), Region: region, Name: row["city"],
			Country: row["country_name"], GPerKWh: g, Year: GCPYear, Table: GCPSource, Upstream: row["source"],
		})
	}
	rows, err = readCSV(multi, "provider", "region", "regionName", "country", "impact", "source", "PUE")
	if err != nil {
		return nil, err
	}
	for i, row := range rows {
		g, err := strconv.ParseFloat(row["impact"], 64)
		if err != nil || g < 0 {
			return nil, fmt.Errorf("embedded %s: line %d: bad impact %q", multi.name, i+2, row["impact"])
		}
		var pue float64
		if s := row["PUE"]; s != "" {
			if pue, err = strconv.ParseFloat(s, 64); err != nil || pue < 1 {
				return nil, fmt.Errorf("embedded %s: line %d: bad PUE %q", multi.name, i+2, s)
			}
		}
		region := strings.ToLower(row["region"])
		if region == "" { // Scaleway's row has only a name ("Paris")
			region = strings.ToLower(strings.Join(strings.Fields(row["regionName"]), "-"))
		}
		r := CloudRegion{
			Provider: strings.ToLower(row["provider"]), Region: region, Name: row["regionName"],
			Country: row["country"], GPerKWh: g, PUE: pue, Table: CloudSource, Upstream: row["source"],
		}
		if newer, ok := t[r.Provider][r.Region]; ok {
			// The provider's own newer figure wins; keep the older table's PUE.
			if newer.PUE == 0 {
				newer.PUE = pue
				t[r.Provider][r.Region] = newer
			}
			continue
		}
		t.add(r)
	}
	return t, nil
}

func (t cloudTable) add(r CloudRegion) {
	if t[r.Provider] == nil {
		t[r.Provider] = map[string]CloudRegion{}
	}
	t[r.Provider][r.Region] = r
}

// lookup finds a region; provider may be empty when the region id is
// unique across providers.
func (t cloudTable) lookup(provider, region string) (CloudRegion, error) {
	p := strings.ToLower(strings.TrimSpace(provider))
	r := strings.ToLower(strings.TrimSpace(region))
	if r == "" {
		return CloudRegion{}, fmt.Errorf("%w: cloud provider %q given without a cloud region; %s", ErrUnknown, provider, listCloudHint)
	}
	if p == "" {
		var found []CloudRegion
		for _, prov := range t.providers() {
			if c, ok := t[prov][r]; ok {
				found = append(found, c)
			}
		}
		switch len(found) {
		case 1:
			return found[0], nil
		case 0:
			return CloudRegion{}, fmt.Errorf("%w: cloud region %q: not in any provider's table; %s", ErrUnknown, region, listCloudHint)
		default:
			var provs []string
			for _, c := range found {
				provs = append(provs, c.Provider)
			}
			return CloudRegion{}, fmt.Errorf("%w: cloud region %q exists for several providers (%s): name the provider",
				ErrUnknown, region, strings.Join(provs, ", "))
		}
	}
	regions, ok := t[p]
	if !ok {
		return CloudRegion{}, fmt.Errorf("%w: cloud provider %q: known providers are %s", ErrUnknown, provider, strings.Join(t.providers(), ", "))
	}
	c, ok := regions[r]
	if !ok {
		return CloudRegion{}, fmt.Errorf("%w: cloud region %q of provider %s: %d regions are known, %s",
			ErrUnknown, region, p, len(regions), listCloudHint)
	}
	return c, nil
}

func (t cloudTable) providers() []string {
	ps := make([]string, 0, len(t))
	for p := range t {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	return ps
}

// cloudProviders returns the providers with embedded region data, sorted.
func cloudProviders() []string {
	t, err := loadTables()
	if err != nil {
		return nil
	}
	return t.cloud.providers()
}

// CloudRegions returns a provider's region ids, sorted. With an empty
// provider it returns every region as "provider/region". An unknown
// provider gives nil.
func CloudRegions(provider string) []string {
	t, err := loadTables()
	if err != nil {
		return nil
	}
	p := strings.ToLower(strings.TrimSpace(provider))
	var out []string
	for _, prov := range t.cloud.providers() {
		if p != "" && prov != p {
			continue
		}
		for r := range t.cloud[prov] {
			if p == "" {
				out = append(out, prov+"/"+r)
			} else {
				out = append(out, r)
			}
		}
	}
	sort.Strings(out)
	return out
}

// Cloud returns the embedded data for a cloud region (case-insensitive).
// The provider may be empty when the region id is unique across providers.
func Cloud(provider, region string) (CloudRegion, error) {
	t, err := loadTables()
	if err != nil {
		return CloudRegion{}, err
	}
	return t.cloud.lookup(provider, region)
}
