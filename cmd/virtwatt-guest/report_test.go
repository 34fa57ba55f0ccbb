package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/share"
)

// reportRecord is a schema-2 record as a host writes it, with both zones
// split, an embodied counter and a live intensity.
func reportRecord() *share.Record {
	return &share.Record{
		Schema: share.SchemaVersion, Host: "hv", Domain: "vm1", UUID: "u-1", Instance: "i", Sequence: 7,
		Timestamp: time.Now(), IntervalSeconds: 1,
		Zones: map[string]share.ZoneEnergy{
			share.ZonePackage: {UsageUJ: 300_000_000_000, IdleUJ: 150_000_000_000},
			share.ZoneDRAM:    {UsageUJ: 52_800_000_000, IdleUJ: 58_800_000_000},
		},
		PUE: 1.25, CarbonIntensity: 400, CarbonIntensitySource: "electricitymaps", CarbonIntensityZone: "FR",
		CarbonIntensityTime: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC),
		EmbodiedUG:          22_000_000, EmbodiedSource: "boavizta-2021 rack server, 4 years",
		Method: share.MethodMeasured, Model: share.ModelRAPL, IdleModel: share.IdleModelFitted, CPUModel: "Intel Xeon Gold 6230",
	}
}

// TestReport: `virtwatt-guest report` on a share written by the real
// writer gives embodied, dynamic and idle grams as computed here by hand
// (energy × PUE × intensity; µg / 1e6), their percents of the total (summing
// to 100), and the source of every factor, as text and as JSON.
func TestReport(t *testing.T) {
	root := t.TempDir()
	w, err := share.NewWriter(root)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	rec := reportRecord()
	if err := w.Write("vm1", rec, true); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "vm1")

	// By hand: each zone's part priced at the record's factors, in the
	// accountant's order (package, dram, either way round: check both).
	price := func(uj uint64) float64 { return float64(uj) / 3.6e12 * 1.25 * 400 }
	pkg, dram := rec.Zones[share.ZonePackage], rec.Zones[share.ZoneDRAM]
	dynamic := []float64{price(pkg.UsageUJ) + price(dram.UsageUJ), price(dram.UsageUJ) + price(pkg.UsageUJ)}
	idle := []float64{price(pkg.IdleUJ) + price(dram.IdleUJ), price(dram.IdleUJ) + price(pkg.IdleUJ)}
	embodied := float64(22_000_000) / 1e6

	var out, errb bytes.Buffer
	if code := Main([]string{"report", "--share-dir", dir, "--format", "json"}, &out, &errb); code != 0 {
		t.Fatalf("report --format json: exit %d\n%s", code, errb.String())
	}
	var got struct {
		Scope, Reads, Domain, Host string
		Parts                      []struct {
			Part    string
			Grams   float64
			Percent *float64
			Energy  *float64 `json:"energy_joules"`
		}
		Total   float64 `json:"total_grams"`
		Sources map[string]any
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("report JSON: %v\n%s", err, out.String())
	}
	want := map[string]float64{"embodied": embodied}
	for _, p := range got.Parts {
		switch p.Part {
		case "dynamic":
			want["dynamic"] = oneOf(p.Grams, dynamic)
		case "idle":
			want["idle"] = oneOf(p.Grams, idle)
		}
	}
	total := want["embodied"] + want["dynamic"] + want["idle"]
	if len(got.Parts) != 3 {
		t.Fatalf("parts %+v, want embodied, dynamic, idle", got.Parts)
	}
	var sumPct float64
	for i, name := range []string{"embodied", "dynamic", "idle"} {
		p := got.Parts[i]
		if p.Part != name || p.Grams != want[name] {
			t.Errorf("row %d: %s %v g, want %s %v g", i, p.Part, p.Grams, name, want[name])
		}
		if p.Percent == nil || math.Abs(*p.Percent-100*want[name]/total) > 1e-9 {
			t.Errorf("%s: percent %v, want %v", name, p.Percent, 100*want[name]/total)
		} else {
			sumPct += *p.Percent
		}
	}
	if math.Abs(sumPct-100) > 1e-9 || math.Abs(got.Total-total) > 1e-9 {
		t.Errorf("percents sum to %v, total %v g (want %v)", sumPct, got.Total, total)
	}
	if e := got.Parts[1].Energy; e == nil || *e != float64(pkg.UsageUJ+dram.UsageUJ)/1e6 {
		t.Errorf("dynamic energy %v J, want %v", e, float64(pkg.UsageUJ+dram.UsageUJ)/1e6)
	}
	for k, v := range map[string]any{
		"carbon_intensity_source": "host:electricitymaps", "carbon_intensity_zone": "FR", "carbon_intensity_time": "2026-12-01T12:00:00Z",
		"pue_source": "host", "embodied_source": rec.EmbodiedSource, "method": "measured", "model": "rapl", "idle_model": "fitted",
		"cpu_model": rec.CPUModel, "pue": 1.25, "carbon_intensity_g_per_kwh": 400.0,
	} {
		if got.Sources[k] != v {
			t.Errorf("sources[%s] = %v, want %v", k, got.Sources[k], v)
		}
	}
	if got.Scope != "vm" || got.Domain != "vm1" || !strings.Contains(got.Reads, dir) || !strings.Contains(got.Reads, "cumulative since") {
		t.Errorf("scope %q domain %q reads %q", got.Scope, got.Domain, got.Reads)
	}

	out.Reset()
	if code := Main([]string{"report", "--share-dir", dir}, &out, &errb); code != 0 {
		t.Fatalf("report: exit %d\n%s", code, errb.String())
	}
	text := out.String()
	t.Log("\n" + text)
	for _, line := range []string{
		fmt.Sprintf("embodied   %-12.6g %9s", embodied, fmt.Sprintf("%.1f %%", 100*embodied/total)),
		fmt.Sprintf("dynamic    %-12.6g %9s", want["dynamic"], fmt.Sprintf("%.1f %%", 100*want["dynamic"]/total)),
		fmt.Sprintf("idle       %-12.6g %9s", want["idle"], fmt.Sprintf("%.1f %%", 100*want["idle"]/total)),
		fmt.Sprintf("total      %-12.6g %9s", total, "100.0 %"),
		"vm1 on hv (uuid u-1)", "reads    the share's record at " + dir,
		"carbon intensity  400 gCO2e/kWh, host:electricitymaps (zone FR, published 2026-12-01T12:00:00Z)",
		"PUE               1.25, host", "embodied          " + rec.EmbodiedSource,
		"energy            measured by rapl; idle model fitted; host CPU Intel Xeon Gold 6230",
	} {
		if !strings.Contains(text, line) {
			t.Errorf("report lacks %q:\n%s", line, text)
		}
	}
}

// oneOf returns got when it is one of want (the sums in either order),
// and want[0] otherwise (so the comparison fails and says so).
func oneOf(got float64, want []float64) float64 {
	for _, w := range want {
		if got == w {
			return w
		}
	}
	return want[0]
}

// TestReportUsage: a bad --format or extra arguments are usage errors;
// a share that is not there is exit 1 naming the directory; --help says
// what report reads.
func TestReportUsage(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "absent")
	for _, tt := range []struct {
		args []string
		code int
		out  string
		err  string
	}{
		{[]string{"report", "--format", "yaml"}, 2, "", `--format "yaml": want text or json`},
		{[]string{"report", "extra"}, 2, "", "unexpected arguments"},
		{[]string{"report", "--share-dir", dir}, 1, "", dir},
		{[]string{"report", "--help"}, 0, "cumulative since the host's counters", ""},
		{[]string{"--help"}, 0, "virtwatt-guest report", ""},
	} {
		var out, errb bytes.Buffer
		code := Main(tt.args, &out, &errb)
		if code != tt.code || !strings.Contains(out.String(), tt.out) || !strings.Contains(errb.String(), tt.err) {
			t.Errorf("%q: exit %d (want %d)\nstdout %s\nstderr %s", tt.args, code, tt.code, out.String(), errb.String())
		}
	}
}

// TestReportStaleShare: a share whose host stopped a day ago is still
// reported, as of its last update and said not fresh; the guest's
// estimate (a report reads once: it could estimate nothing) does not
// replace it with "no share was read".
func TestReportStaleShare(t *testing.T) {
	root := t.TempDir()
	w, err := share.NewWriter(root)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	rec := reportRecord()
	rec.Timestamp = time.Now().Add(-24 * time.Hour)
	if err := w.Write("vm1", rec, true); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := Main([]string{"report", "--share-dir", filepath.Join(root, "vm1")}, &out, &errb); code != 0 {
		t.Fatalf("report on a day-old share: exit %d\n%s", code, errb.String())
	}
	if !strings.Contains(out.String(), "not fresh") || !strings.Contains(out.String(), "embodied   22 ") {
		t.Fatalf("report on a day-old share:\n%s", out.String())
	}
}
