package intensity

import (
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 12, 1, 13, 30, 0, 0, time.UTC)

// TestParse: both formats, every field, and every way a reading can be
// wrong or caught mid-write, refused with a message saying what.
func TestParse(t *testing.T) {
	hour := time.Date(2026, 12, 1, 13, 0, 0, 0, time.UTC)
	good := []struct {
		name, in string
		want     Value
	}{
		{"electricity maps latest", `{"zone":"DE","carbonIntensity":302,"datetime":"2026-12-01T13:00:00.000Z","updatedAt":"2026-12-01T13:41:07.356Z",` +
			`"createdAt":"2026-11-28T13:45:00.925Z","emissionFactorType":"lifecycle","isEstimated":true,"estimationMethod":"TIME_SLICER_AVERAGE"}`,
			Value{GramsPerKWh: 302, Zone: "DE", Time: hour}},
		{"record's name, offset time", ` {"carbon_intensity_g_per_kwh": 41.5, "zone": "FR", "datetime": "2026-12-01T14:00:00+01:00"}` + "\n",
			Value{GramsPerKWh: 41.5, Zone: "FR", Time: hour}},
		{"both names agree, updatedAt only", `{"carbonIntensity":99,"carbon_intensity_g_per_kwh":99,"updatedAt":"2026-12-01T13:00:00Z"}`,
			Value{GramsPerKWh: 99, Time: hour}},
		{"csv", "datetime,zone,carbon_intensity_g_per_kwh\n2026-12-01T13:00:00Z,DE,302\n",
			Value{GramsPerKWh: 302, Zone: "DE", Time: hour}},
		{"csv last row wins, any order, spaces, BOM, CRLF", "\ufeffZone, carbonIntensity, Timestamp\r\nDE, 500, 2026-12-01T12:00:00Z\r\nUS-CAL-CISO, 250.25, 2026-12-01T13:00:00Z\r\n",
			Value{GramsPerKWh: 250.25, Zone: "US-CAL-CISO", Time: hour}},
		{"csv value only", "carbon_intensity\n77\n", Value{GramsPerKWh: 77}},
	}
	for _, c := range good {
		t.Run(c.name, func(t *testing.T) {
			v, err := Parse([]byte(c.in), now)
			if err != nil {
				t.Fatal(err)
			}
			if v.GramsPerKWh != c.want.GramsPerKWh || v.Zone != c.want.Zone || !v.Time.Equal(c.want.Time) {
				t.Fatalf("got %+v, want %+v", v, c.want)
			}
		})
	}
	bad := []struct{ name, in, want string }{
		{"empty", "", "mid-write"},
		{"blank", " \n\t\n", "mid-write"},
		{"torn json", `{"zone":"DE","carbonIntensity":30`, "mid-write"},
		{"null (no data for the zone)", `{"zone":"DE","carbonIntensity":null,"datetime":"2026-12-01T13:00:00Z"}`, "null or missing"},
		{"missing", `{"zone":"DE"}`, "null or missing"},
		{"a string", `{"carbonIntensity":"302"}`, "JSON"},
		{"NaN in json", `{"carbonIntensity":NaN}`, "JSON"},
		{"two objects", `{"carbonIntensity":1}{"carbonIntensity":2}`, "more than one"},
		{"names disagree", `{"carbonIntensity":1,"carbon_intensity_g_per_kwh":2}`, "disagree"},
		{"array", `[{"carbonIntensity":1}]`, "want one object"},
		{"negative", `{"carbonIntensity":-3}`, "negative"},
		{"absurd (g/MWh)", `{"carbonIntensity":302000}`, "above"},
		{"zero", `{"carbonIntensity":0}`, "not set"},
		{"bad time", `{"carbonIntensity":300,"datetime":"yesterday"}`, "RFC 3339"},
		{"far future", `{"carbonIntensity":300,"datetime":"2027-01-01T00:00:00Z"}`, "ahead"},
		{"bad zone", `{"carbonIntensity":300,"zone":"DE\u0007; rm -rf"}`, "zone key"},
		{"long zone", `{"carbonIntensity":300,"zone":"` + strings.Repeat("A", 65) + `"}`, "zone key"},
		{"csv NaN", "carbon_intensity_g_per_kwh\nNaN\n", "not a number"},
		{"csv Inf", "carbon_intensity_g_per_kwh\n+Inf\n", "not a number"},
		{"csv torn row", "datetime,zone,carbon_intensity_g_per_kwh\n2026-12-01T13:00:00Z,DE,30", "mid-write"},
		{"csv header only", "datetime,zone,carbon_intensity_g_per_kwh\n", "mid-write"},
		{"csv short row", "datetime,zone,carbon_intensity_g_per_kwh\n2026-12-01T13:00:00Z,DE\n", "CSV"},
		{"csv no value column", "datetime,zone,g\n2026-12-01T13:00:00Z,DE,3\n", "no carbon_intensity_g_per_kwh column"},
		{"csv garbage value", "carbon_intensity_g_per_kwh\n3O2\n", "not a number"},
		{"binary garbage", "\x00\x01\xff\xfe{\n", "CSV"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			v, err := Parse([]byte(c.in), now)
			if err == nil {
				t.Fatalf("accepted %q as %+v", c.in, v)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not say %q", err, c.want)
			}
		})
	}
}

// TestCheckValue: the bounds a record's carbon intensity can carry.
func TestCheck(t *testing.T) {
	for _, g := range []float64{0, 1, 1100, MaxGramsPerKWh} {
		if err := Check(g); err != nil {
			t.Errorf("%v refused: %v", g, err)
		}
	}
	for _, g := range []float64{-1e-9, MaxGramsPerKWh + 1, 5000, nan(), inf()} {
		if err := Check(g); err == nil {
			t.Errorf("%v accepted", g)
		}
	}
}

func nan() float64 { z := 0.0; return z / z }
func inf() float64 { z := 0.0; return 1 / z }
