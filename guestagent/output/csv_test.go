package output

import (
	"context"
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/guestagent/measure"
)

// codeCarbonHeader is the first line of an emissions.csv written by
// CodeCarbon 3.2.5 (a published file, dated 2026-03-21); its fields are the
// EmissionsData dataclass of codecarbon/output_methods/emissions_data.py
// in mlco2/codecarbon. Kept as a literal so that a change to
// CodeCarbonColumns must be made against the source, not to match itself.
const codeCarbonHeader = "timestamp,project_name,run_id,experiment_id,duration,emissions,emissions_rate," +
	"cpu_power,gpu_power,ram_power,cpu_energy,gpu_energy,ram_energy,energy_consumed,water_consumed," +
	"country_name,country_iso_code,region,cloud_provider,cloud_region,os,python_version,codecarbon_version," +
	"cpu_count,cpu_model,gpu_count,gpu_model,longitude,latitude,ram_total_size,tracking_mode," +
	"cpu_utilization_percent,gpu_utilization_percent,ram_utilization_percent,ram_used_gb,on_cloud,pue,wue"

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func sample(at time.Duration, pkgUJ, dramUJ uint64, grams, liters float64) measure.Sample {
	return measure.Sample{
		Time:           t0.Add(at),
		Up:             true,
		EnergyUJ:       map[string]uint64{"package": pkgUJ, "dram": dramUJ},
		PowerW:         map[string]float64{"package": 40, "dram": 5},
		EmissionsGrams: grams,
		WaterLiters:    liters,
		PUE:            1.2,
		WUE:            0.5,
	}
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func col(t *testing.T, head, row []string, name string) string {
	t.Helper()
	i := slices.Index(head, name)
	if i < 0 {
		t.Fatalf("no column %q", name)
	}
	return row[i]
}

func colFloat(t *testing.T, head, row []string, name string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(col(t, head, row, name), 64)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

func TestCodeCarbonColumns(t *testing.T) {
	if got := strings.Join(CodeCarbonColumns, ","); got != codeCarbonHeader {
		t.Fatalf("columns\n got %s\nwant %s", got, codeCarbonHeader)
	}
	if n := len(Row{}.Record()); n != len(CodeCarbonColumns) {
		t.Fatalf("a row has %d cells, the header %d", n, len(CodeCarbonColumns))
	}
}

func TestCSVUnitsAndHeader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "emissions.csv")
	c, err := NewCSV(CSVOptions{Path: path, Interval: time.Minute, RunID: "run-1",
		Location: Location{CountryName: "France", CountryISOCode: "FRA"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Before the share was read: ignored.
	if err := c.Emit(ctx, measure.Sample{Time: t0}); err != nil {
		t.Fatal(err)
	}
	must(t, c.Emit(ctx, sample(0, 1e12, 5e11, 100, 1)))
	must(t, c.Emit(ctx, sample(30*time.Second, 2e12, 6e11, 200, 2))) // before the interval: no row
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("row written before the interval: %v", err)
	}
	// +1 h: package +3.2e12 µJ, dram +0.4e12 µJ → 1 kWh of IT energy,
	// 1.2 kWh at PUE 1.2 (as CodeCarbon counts it), 0.6 L at WUE 0.5;
	// +56 g → 0.056 kg (the sample's emissions, PUE included).
	must(t, c.Emit(ctx, sample(time.Hour, 4.2e12, 9e11, 156, 1.5)))
	recs := readCSV(t, path)
	if len(recs) != 2 {
		t.Fatalf("%d lines, want header + 1 row", len(recs))
	}
	head, row := recs[0], recs[1]
	if strings.Join(head, ",") != codeCarbonHeader {
		t.Fatalf("header %v", head)
	}
	checks := map[string]float64{
		"duration":        3600,
		"energy_consumed": 1.2,
		"cpu_energy":      3.2e12 / 3.6e12 * 1.2,
		"ram_energy":      0.4e12 / 3.6e12 * 1.2,
		"emissions":       0.056,
		"emissions_rate":  0.056 / 3600,
		"water_consumed":  0.6,
		"cpu_power":       3.2e6 / 3600, // the run's average IT power, not the last interval's 40 W
		"ram_power":       0.4e6 / 3600,
		"pue":             1.2,
		"wue":             0.5,
	}
	for name, want := range checks {
		if got := colFloat(t, head, row, name); abs(got-want) > 1e-12*max(1, want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if got := col(t, head, row, "duration"); got != "3600.0" {
		t.Errorf("duration written %q, want Python's 3600.0", got)
	}
	for _, name := range []string{"gpu_power", "gpu_energy", "gpu_count", "gpu_model", "gpu_utilization_percent"} {
		if got := col(t, head, row, name); got != "" {
			t.Errorf("%s = %q with no GPU measured, want an empty cell", name, got)
		}
	}
	for name, want := range map[string]string{
		"timestamp": "2026-11-26T13:00:00", "run_id": "run-1", "project_name": "virtwatt",
		"country_name": "France", "country_iso_code": "FRA", "tracking_mode": "machine", "on_cloud": "N",
	} {
		if got := col(t, head, row, name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}

	// A stale sample (no new energy): Close writes it; the run's average
	// power is still known and covers the longer run.
	s := sample(time.Hour+400*time.Second, 4.2e12, 9e11, 156, 1.5)
	s.Up, s.PowerW = false, nil
	must(t, c.Emit(ctx, s))
	must(t, c.Close())
	recs = readCSV(t, path)
	if len(recs) != 3 {
		t.Fatalf("%d lines after Close, want 3", len(recs))
	}
	if got, want := colFloat(t, head, recs[2], "cpu_power"), 3.2e6/4000; abs(got-want) > 1e-9 {
		t.Errorf("cpu_power after a stale sample = %v, want the run's average %v", got, want)
	}
	if got := colFloat(t, head, recs[2], "energy_consumed"); abs(got-1.2) > 1e-12 {
		t.Errorf("energy_consumed after a sample with no new energy = %v, want 1.2", got)
	}
}

// TestCSVPUEPerDelta: each delta is multiplied by the PUE in force when it
// was measured (as CodeCarbon's _do_measurements does), not the last PUE
// times the total; a PUE below 1 or NaN never lowers energy.
func TestCSVPUEPerDelta(t *testing.T) {
	path := filepath.Join(t.TempDir(), "emissions.csv")
	c, err := NewCSV(CSVOptions{Path: path, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const kwh = 3.6e12
	for i, pue := range []float64{1.5, 1.5, 2, math.NaN(), 0.5} {
		s := sample(time.Duration(i)*20*time.Minute, uint64(i)*kwh, 0, 0, 0)
		s.PUE, s.WUE = pue, 1
		must(t, c.Emit(ctx, s))
	}
	must(t, c.Close())
	recs := readCSV(t, path)
	// kWh 1 at 1.5, 1 at 2, then 1 at NaN→1 and 1 at 0.5→1.
	for name, want := range map[string]float64{"energy_consumed": 1.5 + 2 + 1 + 1, "water_consumed": 1.5 + 2 + 1 + 1} {
		if got := colFloat(t, recs[0], recs[len(recs)-1], name); abs(got-want) > 1e-12 {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

func TestCSVAppendsToExistingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "emissions.csv")
	for run := 0; run < 2; run++ {
		c, err := NewCSV(CSVOptions{Path: path})
		if err != nil {
			t.Fatal(err)
		}
		must(t, c.WriteRow(Row{Timestamp: "x", EnergyKWh: float64(run)}))
	}
	recs := readCSV(t, path)
	if len(recs) != 3 {
		t.Fatalf("%d lines, want one header and two rows", len(recs))
	}
	if recs[1][2] == recs[2][2] {
		t.Fatal("two agent runs share a run_id")
	}
}

func TestCSVRotatesForeignHeader(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "emissions.csv")
	old := "timestamp,project_name,run_id,duration,emissions\n2024-01-01T00:00:00,p,r,1.0,0.1\n"
	must(t, os.WriteFile(path, []byte(old), 0o644))
	c, err := NewCSV(CSVOptions{Path: path, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	must(t, c.WriteRow(Row{Timestamp: "x"}))
	bak := path + ".bak-20261126T120000"
	got, err := os.ReadFile(bak)
	if err != nil || string(got) != old {
		t.Fatalf("backup %s: %q, %v", bak, got, err)
	}
	recs := readCSV(t, path)
	if len(recs) != 2 || strings.Join(recs[0], ",") != codeCarbonHeader {
		t.Fatalf("new file %v", recs)
	}
	// A second rotation in the same second does not overwrite the first backup.
	must(t, os.WriteFile(path, []byte(old), 0o644))
	c2, _ := NewCSV(CSVOptions{Path: path, Now: func() time.Time { return t0 }})
	must(t, c2.WriteRow(Row{Timestamp: "y"}))
	if _, err := os.Stat(bak + "-1"); err != nil {
		t.Fatalf("second backup: %v", err)
	}
}

// TestCSVRotatesOtherColumnOrder: a file with CodeCarbon's columns in
// another order is moved aside like any other foreign header, as CodeCarbon
// does (an ordered comparison), so that rows CodeCarbon itself appends in
// its own order line up with the header.
func TestCSVRotatesOtherColumnOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "emissions.csv")
	rev := slices.Clone(CodeCarbonColumns)
	slices.Reverse(rev)
	old := strings.Join(rev, ",") + "\n"
	must(t, os.WriteFile(path, []byte(old), 0o644))
	c, _ := NewCSV(CSVOptions{Path: path, RunID: "r", Now: func() time.Time { return t0 }})
	must(t, c.WriteRow(Row{Timestamp: "ts", EnergyKWh: 2}))
	if got, err := os.ReadFile(path + ".bak-20261126T120000"); err != nil || string(got) != old {
		t.Fatalf("backup: %q, %v", got, err)
	}
	recs := readCSV(t, path)
	if len(recs) != 2 || strings.Join(recs[0], ",") != codeCarbonHeader {
		t.Fatalf("new file %v", recs)
	}
	if got := col(t, recs[0], recs[1], "energy_consumed"); got != "2.0" {
		t.Fatalf("energy_consumed = %q", got)
	}
}

func TestCSVErrorsReturned(t *testing.T) {
	if _, err := NewCSV(CSVOptions{Path: "/nonexistent/dir/x.csv"}); err == nil || !strings.Contains(err.Error(), "--csv") {
		t.Fatalf("err = %v", err)
	}
	dir := t.TempDir()
	c, _ := NewCSV(CSVOptions{Path: dir}) // a directory: cannot be opened for writing
	if err := c.WriteRow(Row{}); err == nil {
		t.Fatal("no error writing to a directory")
	}
}

func TestPyFloat(t *testing.T) {
	for v, want := range map[float64]string{
		1: "1.0", 0: "0.0", 0.056: "0.056", 1e-05: "1e-05", 3600: "3600.0", 1234567: "1234567.0", 2.5e16: "2.5e+16",
	} {
		if got := pyFloat(v); got != want {
			t.Errorf("pyFloat(%v) = %q, want %q", v, got, want)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
