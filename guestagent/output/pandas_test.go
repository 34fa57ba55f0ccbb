package output_test

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/guestagent/account"
	"github.com/virtwatt/virtwatt/guestagent/follow"
	"github.com/virtwatt/virtwatt/guestagent/output"
	"github.com/virtwatt/virtwatt/share"
)

// readWithPandas reads path with pandas.read_csv, as a CodeCarbon user
// would, and returns the column dtypes and the rows (NaN as nil).
func readWithPandas(t *testing.T, path string) (map[string]string, []map[string]any) {
	t.Helper()
	// The python3 on PATH first, then Debian's (python3-pandas installs there).
	var py string
	err := exec.ErrNotFound
	for _, cand := range []string{"python3", "/usr/bin/python3"} {
		if p, lerr := exec.LookPath(cand); lerr == nil {
			if err = exec.Command(p, "-c", "import pandas").Run(); err == nil {
				py = p
				break
			}
		}
	}
	if err != nil {
		if os.Getenv("VIRTWATT_REQUIRE_TOOLS") != "" {
			t.Fatalf("python3 with pandas is needed (Debian: apt-get install python3-pandas) and VIRTWATT_REQUIRE_TOOLS is set: %v", err)
		}
		t.Skipf("python3 with pandas not installed (apt-get install python3-pandas); CI sets VIRTWATT_REQUIRE_TOOLS: %v", err)
	}
	const script = `import json, sys, pandas
df = pandas.read_csv(sys.argv[1])
rows = df.astype(object).where(df.notna(), None).to_dict(orient="records")
print(json.dumps({"dtypes": {c: str(t) for c, t in df.dtypes.items()}, "rows": rows},
                 default=lambda o: o.item()))`
	out, err := exec.Command(py, "-c", script, path).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("pandas.read_csv(%s): %v\n%s", path, err, stderr)
	}
	var got struct {
		DTypes map[string]string `json:"dtypes"`
		Rows   []map[string]any  `json:"rows"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("decoding pandas' output: %v\n%s", err, out)
	}
	return got.DTypes, got.Rows
}

// TestCSVCodeCarbonSemanticsWithPandas drives the CSV sink with the
// guest's real accountant fed three host records (PUE, WUE and intensity
// change between them), reads the file with pandas, and checks every
// column against values computed by hand from the records, with
// CodeCarbon's meaning: energy and water include PUE (each delta at the
// PUE in force), emissions / energy = intensity, power is the run's
// average IT power, GPU cells empty.
func TestCSVCodeCarbonSemanticsWithPandas(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	rec := func(seq uint64, sec int, pkgUJ, dramUJ uint64, pue, wue, intensity float64) *share.Record {
		return &share.Record{
			Schema: share.SchemaVersion, Host: "hv1", Domain: "vm1", UUID: "u1", Instance: "i1",
			Sequence: seq, Timestamp: t0.Add(time.Duration(sec) * time.Second), IntervalSeconds: 60,
			Zones: map[string]share.ZoneEnergy{
				share.ZonePackage: {UsageUJ: pkgUJ * 3 / 4, IdleUJ: pkgUJ - pkgUJ*3/4},
				share.ZoneDRAM:    {UsageUJ: dramUJ},
			},
			PUE: pue, WUE: wue, CarbonIntensity: intensity, CarbonIntensitySource: "grid",
		}
	}
	// Energy already on the counters at start (1e9 + 2e8 µJ) is not the run's.
	// 0→60 s: package +24e9 µJ (400 W), dram +2.4e9 (40 W) at PUE 1.5, WUE 2, 100 g/kWh.
	// 60→120 s: package +12e9 µJ (200 W), dram +1.2e9 (20 W) at PUE 1.2, WUE 1, 300 g/kWh.
	recs := []*share.Record{
		rec(1, 0, 1e9, 2e8, 1.5, 2, 100),
		rec(2, 60, 25e9, 2.6e9, 1.5, 2, 100),
		rec(3, 120, 37e9, 3.8e9, 1.2, 1, 300),
	}
	path := filepath.Join(t.TempDir(), "emissions.csv")
	csv, err := output.NewCSV(output.CSVOptions{
		Path: path, Interval: 60 * time.Second, RunID: "run-1", ExperimentID: "exp-1", ProjectName: "proj",
		Location: output.Location{CountryName: "France", CountryISOCode: "FRA"},
		Machine:  output.Machine{OS: "Linux-6.1", CPUCount: 4, CPUModel: "Test CPU", RAMTotalGB: 8},
	})
	if err != nil {
		t.Fatal(err)
	}
	acct := account.New(account.Options{PollInterval: time.Second})
	for _, r := range recs {
		s := acct.Observe(r.Timestamp, follow.Observation{Record: r})
		if err := csv.Emit(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	if err := csv.Close(); err != nil {
		t.Fatal(err)
	}

	dtypes, rows := readWithPandas(t, path)
	if len(rows) != 2 {
		t.Fatalf("pandas read %d rows, want 2 (one per 60 s)", len(rows))
	}
	if len(dtypes) != len(output.CodeCarbonColumns) {
		t.Fatalf("pandas read %d columns, want %d", len(dtypes), len(output.CodeCarbonColumns))
	}
	for _, c := range []string{"duration", "emissions", "emissions_rate", "cpu_power", "ram_power",
		"cpu_energy", "ram_energy", "energy_consumed", "water_consumed", "pue", "wue", "ram_total_size"} {
		if dt := dtypes[c]; dt != "float64" {
			t.Errorf("pandas reads %s as %s, want float64", c, dt)
		}
	}

	const uJPerKWh = 3.6e12
	kwh := func(uj float64) float64 { return uj / uJPerKWh }
	type phase struct{ pkg, dram, pue, wue, intensity float64 }
	phases := []phase{{24e9, 2.4e9, 1.5, 2, 100}, {12e9, 1.2e9, 1.2, 1, 300}}
	want := func(n int) map[string]any {
		var cpu, ram, water, grams, itPkg, itDram float64
		for _, p := range phases[:n] {
			cpu += kwh(p.pkg) * p.pue
			ram += kwh(p.dram) * p.pue
			water += kwh(p.pkg+p.dram) * p.pue * p.wue
			grams += kwh(p.pkg+p.dram) * p.pue * p.intensity
			itPkg += p.pkg
			itDram += p.dram
		}
		dur := float64(60 * n)
		last := phases[n-1]
		return map[string]any{
			"timestamp":    t0.Add(time.Duration(n) * time.Minute).Format("2006-01-02T15:04:05"),
			"project_name": "proj", "run_id": "run-1", "experiment_id": "exp-1",
			"duration": dur, "emissions": grams / 1000, "emissions_rate": grams / 1000 / dur,
			"cpu_power": itPkg / 1e6 / dur, "gpu_power": nil, "ram_power": itDram / 1e6 / dur,
			"cpu_energy": cpu, "gpu_energy": nil, "ram_energy": ram, "energy_consumed": cpu + ram,
			"water_consumed": water,
			"country_name":   "France", "country_iso_code": "FRA", "region": nil,
			"cloud_provider": nil, "cloud_region": nil,
			"os": "Linux-6.1", "python_version": nil, "codecarbon_version": nil,
			"cpu_count": 4.0, "cpu_model": "Test CPU", "gpu_count": nil, "gpu_model": nil,
			"longitude": nil, "latitude": nil, "ram_total_size": 8.0, "tracking_mode": "machine",
			"cpu_utilization_percent": nil, "gpu_utilization_percent": nil,
			"ram_utilization_percent": nil, "ram_used_gb": nil,
			"on_cloud": "N", "pue": last.pue, "wue": last.wue,
		}
	}
	for i, row := range rows {
		w := want(i + 1)
		if len(w) != len(output.CodeCarbonColumns) {
			t.Fatalf("test expects %d columns, CodeCarbon has %d", len(w), len(output.CodeCarbonColumns))
		}
		for _, c := range output.CodeCarbonColumns {
			got, exp := row[c], w[c]
			switch e := exp.(type) {
			case float64:
				g, ok := got.(float64)
				if !ok || math.Abs(g-e) > 1e-12*math.Max(1, math.Abs(e)) {
					t.Errorf("row %d: %s = %v, want %v", i+1, c, got, e)
				}
			default:
				if got != exp {
					t.Errorf("row %d: %s = %#v, want %#v", i+1, c, got, exp)
				}
			}
		}
		// CodeCarbon's invariant: emissions / energy_consumed is the
		// intensity (here constant over the first row: 100 g/kWh).
		if i == 0 {
			if r := row["emissions"].(float64) * 1000 / row["energy_consumed"].(float64); math.Abs(r-100) > 1e-9 {
				t.Errorf("emissions / energy_consumed = %v g/kWh, want the intensity 100", r)
			}
		}
	}
}
