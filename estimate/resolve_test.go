package estimate

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestResolve(t *testing.T) {
	tests := []struct {
		name       string
		in         Lookup
		wantG      float64
		wantSource string
		wantYear   int
	}{
		// Figures copied by hand from the embedded files.
		{"country alpha-3", Lookup{Country: "FRA"}, 56.039, "country:FRA (Our World in Data 2023)", 2023},
		{"country alpha-2 lower case", Lookup{Country: "fr"}, 56.039, "country:FRA (Our World in Data 2023)", 2023},
		{"UK alias", Lookup{Country: "UK"}, 237.589, "country:GBR (Our World in Data 2023)", 2023},
		{"US state code", Lookup{Country: "US", Region: "CA"}, 452.541 * 0.45359237, "region:USA/CA (EPA eGRID 2016)", 2016},
		{"US state name", Lookup{Country: "usa", Region: " california "}, 452.541 * 0.45359237, "region:USA/CA (EPA eGRID 2016)", 2016},
		{"US state, two-word name", Lookup{Country: "USA", Region: "North  Dakota"}, 1663.754 * 0.45359237, "region:USA/ND (EPA eGRID 2016)", 2016},
		{"US state alone", Lookup{Region: "TX"}, 1049.527 * 0.45359237, "region:USA/TX (EPA eGRID 2016)", 2016},
		{"Nordic zone", Lookup{Country: "SE", Region: "se3"}, 18, "region:SE3 (ENTSO-E 2024)", 2024},
		{"Nordic zone alone", Lookup{Region: "NO1"}, 18, "region:NO1 (ENTSO-E 2024)", 2024},
		{"Finland zone", Lookup{Country: "FIN", Region: "FI"}, 72, "region:FI (ENTSO-E 2025)", 2025},
		{"cloud aws", Lookup{CloudProvider: "aws", CloudRegion: "us-east-1"}, 367.8, "cloud:aws/us-east-1 (CodeCarbon cloud_regions_impact)", 0},
		{"cloud gcp 2024 table", Lookup{CloudProvider: "GCP", CloudRegion: "europe-west9"}, 34, "cloud:gcp/europe-west9 (Google Cloud region carbon data 2024)", 2024},
		{"cloud gcp beats older row", Lookup{CloudProvider: "gcp", CloudRegion: "us-central1"}, 430, "cloud:gcp/us-central1 (Google Cloud region carbon data 2024)", 2024},
		{"cloud gcp typo fixed", Lookup{CloudProvider: "gcp", CloudRegion: "me-central1"}, 575, "cloud:gcp/me-central1 (Google Cloud region carbon data 2024)", 2024},
		{"cloud region without provider", Lookup{CloudRegion: "westeurope"}, 569, "cloud:azure/westeurope (CodeCarbon cloud_regions_impact)", 0},
		{"nothing given", Lookup{}, 475, "world-average", 2019},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Resolve(tc.in)
			if err != nil {
				t.Fatalf("Resolve(%+v): %v", tc.in, err)
			}
			if !near(got.GPerKWh, tc.wantG) || got.Source != tc.wantSource || got.Year != tc.wantYear {
				t.Errorf("Resolve(%+v) = %+v, want {%v %q %d}", tc.in, got, tc.wantG, tc.wantSource, tc.wantYear)
			}
		})
	}
}

func TestResolveOrder(t *testing.T) {
	all := Lookup{Override: 10, HostValue: 20, HostSource: "country:DEU", Country: "FR", CloudProvider: "aws", CloudRegion: "us-east-1"}
	steps := []struct {
		name       string
		drop       func(*Lookup)
		wantG      float64
		wantSource string
	}{
		{"override beats host", func(*Lookup) {}, 10, "override"},
		{"host beats country", func(l *Lookup) { l.Override = 0 }, 20, "host:country:DEU"},
		{"country beats cloud", func(l *Lookup) { l.HostValue = 0 }, 56.039, "country:FRA (Our World in Data 2023)"},
		{"cloud beats world", func(l *Lookup) { l.Country = "" }, 367.8, "cloud:aws/us-east-1 (CodeCarbon cloud_regions_impact)"},
		{"world last", func(l *Lookup) { l.CloudProvider, l.CloudRegion = "", "" }, 475, "world-average"},
	}
	l := all
	for _, s := range steps {
		s.drop(&l)
		got, err := Resolve(l)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if !near(got.GPerKWh, s.wantG) || got.Source != s.wantSource {
			t.Errorf("%s: got %+v, want %v %q", s.name, got, s.wantG, s.wantSource)
		}
	}
}

func TestResolveHostWithoutSource(t *testing.T) {
	got, err := Resolve(Lookup{HostValue: 123, Country: "FR"})
	if err != nil || got.GPerKWh != 123 || got.Source != "host" {
		t.Errorf("got %+v, %v; want 123 from host", got, err)
	}
	// A non-finite host value is ignored: the next source applies.
	got, err = Resolve(Lookup{HostValue: math.Inf(1), Country: "FR"})
	if err != nil || got.GPerKWh != 56.039 {
		t.Errorf("infinite host value: got %+v, %v; want the country figure", got, err)
	}
}

func TestAlpha2EqualsAlpha3(t *testing.T) {
	for _, a3 := range Countries() {
		c, err := Country(a3)
		if err != nil {
			t.Fatalf("Country(%q): %v", a3, err)
		}
		by2, err2 := Resolve(Lookup{Country: strings.ToLower(c.Alpha2)})
		by3, err3 := Resolve(Lookup{Country: a3})
		if err2 != nil || err3 != nil || by2 != by3 {
			t.Errorf("%s/%s: alpha-2 gave %+v (%v), alpha-3 gave %+v (%v)", c.Alpha2, a3, by2, err2, by3, err3)
		}
	}
}

func TestResolveErrors(t *testing.T) {
	tests := []struct {
		name    string
		in      Lookup
		mention []string // substrings the message must contain
	}{
		{"unknown country", Lookup{Country: "XYZ"}, []string{`"XYZ"`, "--list-countries"}},
		{"country name suggests code", Lookup{Country: "France"}, []string{`"France"`, "FR or FRA"}},
		{"unknown country wins over cloud", Lookup{Country: "ZZ", CloudProvider: "aws", CloudRegion: "us-east-1"}, []string{`"ZZ"`}},
		{"unknown US state", Lookup{Country: "US", Region: "Atlantis"}, []string{`"Atlantis"`, "--list-countries"}},
		{"zone of another country", Lookup{Country: "NO", Region: "SE3"}, []string{`"SE3"`, "NO1"}},
		{"zone without data", Lookup{Country: "DK", Region: "DK1"}, []string{`"DK1"`, "DNK"}},
		{"region in a country without regions", Lookup{Country: "FR", Region: "IDF"}, []string{`"IDF"`, "FRA"}},
		{"unknown region alone", Lookup{Region: "Mars"}, []string{`"Mars"`, "SE3"}},
		{"unknown cloud region", Lookup{CloudProvider: "aws", CloudRegion: "moon-1"}, []string{`"moon-1"`, "--list-cloud-regions"}},
		{"unknown provider", Lookup{CloudProvider: "acme", CloudRegion: "x"}, []string{`"acme"`, "aws"}},
		{"provider without region", Lookup{CloudProvider: "aws"}, []string{`"aws"`, "without a cloud region"}},
		{"unknown region, no provider", Lookup{CloudRegion: "nowhere-9"}, []string{`"nowhere-9"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Resolve(tc.in)
			if err == nil {
				t.Fatalf("Resolve(%+v) = %+v, want an error", tc.in, got)
			}
			if !errors.Is(err, ErrUnknown) {
				t.Errorf("error %v does not wrap ErrUnknown", err)
			}
			for _, s := range tc.mention {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

func TestResolveBadOverride(t *testing.T) {
	for _, v := range []float64{-1, math.NaN(), math.Inf(1)} {
		if got, err := Resolve(Lookup{Override: v}); err == nil {
			t.Errorf("Override %v: got %+v, want an error", v, got)
		}
	}
}

// TestResolveExplicitZeroOverride: an override given as 0 (a zero-carbon
// supply) wins over the host and the tables; an unset one does not.
func TestResolveExplicitZeroOverride(t *testing.T) {
	got, err := Resolve(Lookup{Override: 0, OverrideSet: true, HostValue: 300, Country: "FR"})
	if err != nil || got.GPerKWh != 0 || got.Source != SourceOverride {
		t.Fatalf("explicit 0: got %+v, %v; want 0 g/kWh from %q", got, err, SourceOverride)
	}
	got, err = Resolve(Lookup{HostValue: 300})
	if err != nil || got.GPerKWh != 300 || got.Source != SourceHost {
		t.Fatalf("unset override: got %+v, %v; want the host's 300", got, err)
	}
}
