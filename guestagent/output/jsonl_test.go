package output

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/guestagent/measure"
)

func TestJSONLRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	j, err := NewJSONL(path)
	if err != nil {
		t.Fatal(err)
	}
	s1 := measure.Sample{
		Time: t0, HostTime: t0.Add(-time.Second), Up: true, Host: "hv1", Domain: "vm1", UUID: "u-1",
		Labels:         map[string]string{"team": "a"},
		EnergyUJ:       map[string]uint64{"package": 3_000_000, "dram": 1_000_000},
		PowerW:         map[string]float64{"package": 12.5, "dram": 2},
		EmissionsGrams: 1.5, WaterLiters: 0.2, IntensityGPerKWh: 56, IntensitySource: "country:FRA",
		PUE: 1.2, PUESource: "record", Mode: "record",
	}
	s2 := measure.Sample{Time: t0.Add(time.Second), EnergyUJ: map[string]uint64{"package": 3_000_000, "dram": 1_000_000}} // stale: no power
	for _, s := range []measure.Sample{s1, s2} {
		must(t, j.Emit(context.Background(), s))
	}
	must(t, j.Close())

	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []Record
	raw := []map[string]any{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r Record
		must(t, json.Unmarshal(sc.Bytes(), &r))
		got = append(got, r)
		var m map[string]any
		must(t, json.Unmarshal(sc.Bytes(), &m))
		raw = append(raw, m)
	}
	if len(got) != 2 {
		t.Fatalf("%d lines, want 2", len(got))
	}
	want := NewRecord(s1)
	if !reflect.DeepEqual(normalize(got[0]), normalize(want)) {
		t.Fatalf("round trip\n got %+v\nwant %+v", got[0], want)
	}
	if *got[0].EnergyJoules != 4 || *got[0].PowerWTotal != 14.5 {
		t.Fatalf("energy %v J power %v W", *got[0].EnergyJoules, *got[0].PowerWTotal)
	}
	if _, ok := raw[1]["power_watts_total"]; ok {
		t.Fatal("stale sample has a power_watts_total")
	}
	if _, ok := raw[1]["power_watts"]; ok {
		t.Fatal("stale sample has power_watts")
	}
	if raw[1]["up"] != false {
		t.Fatal("stale sample not up=false")
	}
}

// normalize strips monotonic clock readings so that DeepEqual compares instants.
func normalize(r Record) Record {
	r.Time = r.Time.Round(0).UTC()
	if r.HostTime != nil {
		t := r.HostTime.Round(0).UTC()
		r.HostTime = &t
	}
	return r
}

// TestRecordBeforeTheShareHasNoNumbers: a Sample made before the share was
// ever read gives no energy, emissions, water or embodied number (absent,
// never 0), while a started one does, zeros included.
func TestRecordBeforeTheShareHasNoNumbers(t *testing.T) {
	b, err := json.Marshal(NewRecord(measure.Sample{Time: t0, IntensityGPerKWh: 475, IntensitySource: "world-average", PUE: 1}))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	must(t, json.Unmarshal(b, &m))
	for _, k := range []string{"energy_uj", "energy_joules", "emissions_grams", "water_liters", "embodied_grams", "power_watts"} {
		if v, ok := m[k]; ok {
			t.Errorf("%s = %v before the share was read, want absent", k, v)
		}
	}
	if m["up"] != false || m["carbon_intensity_g_per_kwh"] != 475.0 {
		t.Errorf("record %s", b)
	}
	b, err = json.Marshal(NewRecord(measure.Sample{Time: t0, EnergyUJ: map[string]uint64{"package": 0}}))
	if err != nil {
		t.Fatal(err)
	}
	m = nil
	must(t, json.Unmarshal(b, &m))
	for _, k := range []string{"energy_joules", "emissions_grams", "water_liters"} {
		if v, ok := m[k]; !ok || v != 0.0 {
			t.Errorf("%s = %v (present %v) once started at 0 J, want 0", k, v, ok)
		}
	}
}

// TestJSONLMethod: each line says how its energy was obtained: the
// guest's own estimate, a record's provenance, or (a tree, a schema-1
// record) measured by rapl; nothing before the share or estimate started.
func TestJSONLMethod(t *testing.T) {
	for _, tc := range []struct {
		s                   measure.Sample
		method, model, mode string
	}{
		{measure.Sample{Time: t0, Mode: measure.ModeEstimate, Method: "estimated", Model: "ccf",
			EnergyUJ: map[string]uint64{"package": 1}, PowerW: map[string]float64{"package": 3}}, "estimated", "ccf", "estimate"},
		{measure.Sample{Time: t0, Up: true, Mode: "record", Method: "estimated", Model: "tdp", EnergyUJ: map[string]uint64{"package": 1}}, "estimated", "tdp", "record"},
		{measure.Sample{Time: t0, Up: true, Mode: "tree", EnergyUJ: map[string]uint64{"package": 1}}, "measured", "rapl", "tree"},
		{measure.Sample{Time: t0}, "", "", ""},
	} {
		b, err := json.Marshal(NewRecord(tc.s))
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		must(t, json.Unmarshal(b, &got))
		m, _ := got["method"].(string)
		mo, _ := got["model"].(string)
		md, _ := got["mode"].(string)
		if m != tc.method || mo != tc.model || md != tc.mode {
			t.Errorf("%s: method %q model %q mode %q, want %q %q %q", b, m, mo, md, tc.method, tc.model, tc.mode)
		}
	}
}
