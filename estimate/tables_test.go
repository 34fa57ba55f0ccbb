package estimate

import (
	"slices"
	"testing"
)

func TestEmbeddedTables(t *testing.T) {
	if n := len(Countries()); n != 213 {
		t.Errorf("Countries(): %d, want the 213 of global_energy_mix.json", n)
	}
	cpus, err := loadCPUTable()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(cpus.entries); n < 4890 {
		t.Errorf("CPU table: %d usable rows, want about 4,900", n)
	}
	c, err := Country("fra")
	if err != nil || c != (CountryData{Alpha3: "FRA", Alpha2: "FR", Name: "France", GPerKWh: 56.039, Year: 2023}) {
		t.Errorf("Country(fra) = %+v, %v", c, err)
	}
	if got := Regions("US"); len(got) != 51 || !slices.Contains(got, "DC") || !slices.Contains(got, "WY") {
		t.Errorf("Regions(US) = %v, want 50 states and DC", got)
	}
	if got := Regions("SWE"); !slices.Equal(got, []string{"SE1", "SE2", "SE3", "SE4"}) {
		t.Errorf("Regions(SWE) = %v", got)
	}
	if got := Regions("FR"); got != nil {
		t.Errorf("Regions(FR) = %v, want nil", got)
	}
}

func TestCloudListing(t *testing.T) {
	want := []string{"aws", "azure", "coreweave", "gcp", "ovh", "scaleway", "seeweb"}
	if got := cloudProviders(); !slices.Equal(got, want) {
		t.Errorf("cloudProviders() = %v, want %v", got, want)
	}
	aws := CloudRegions("AWS")
	if len(aws) != 22 || !slices.Contains(aws, "us-east-1") || !slices.IsSorted(aws) {
		t.Errorf("CloudRegions(AWS) = %v, want 22 sorted regions with us-east-1", aws)
	}
	// Every GCP region of the older table is also in the 2024 one: 40 in all.
	if got := CloudRegions("gcp"); len(got) != 40 {
		t.Errorf("CloudRegions(gcp): %d regions, want 40", len(got))
	}
	if all := CloudRegions(""); !slices.Contains(all, "azure/westeurope") || !slices.Contains(all, "scaleway/paris") {
		t.Errorf("CloudRegions(\"\") lacks azure/westeurope or scaleway/paris: %v", all)
	}
	if got := CloudRegions("acme"); got != nil {
		t.Errorf("CloudRegions(acme) = %v, want nil", got)
	}
	// The 2024 GCP row keeps the older table's PUE.
	r, err := Cloud("gcp", "europe-west1")
	if err != nil || r.GPerKWh != 122 || r.PUE != 1.09 || r.Year != 2024 {
		t.Errorf("Cloud(gcp, europe-west1) = %+v, %v; want 122 g/kWh, PUE 1.09, 2024", r, err)
	}
}
