package state

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/hostagent/powercurve"
)

// A state with a power curve saves and loads back the same; a file from
// before the field loads with none; a bad curve is refused naming its path
// and the fix that keeps every counter.
func TestPowerCurveField(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state.json")
	st := New()
	st.PowerCurve = &powercurve.Saved{Zones: map[string]*powercurve.SavedZone{
		"package": {CPUs: 16, Bins: [][][2]uint64{{{500, 46_000}, {900, 50_800}}, {{3000, 76_000}}},
			Calibrated: &powercurve.SavedCurve{Time: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC), IdleUW: 40_000_000, MarginalUWPerCPU: 12_000_000, R2PPM: 995_000, Samples: 30}},
	}}
	if err := st.Save(p, time.Date(2026, 12, 1, 12, 0, 1, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	got, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	z := got.PowerCurve.Zones["package"]
	if z.CPUs != 16 || len(z.Bins) != 2 || z.Bins[1][0] != [2]uint64{3000, 76_000} || z.Calibrated.IdleUW != 40_000_000 {
		t.Fatalf("loaded %+v", z)
	}

	if err := os.WriteFile(p, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	if old, err := Load(p); err != nil || old.PowerCurve != nil {
		t.Fatalf("a file without power_curve: %v, curve %+v", err, old)
	}

	for name, tc := range map[string]struct{ curve, path string }{
		"fractional power": {`{"zones":{"package":{"cpus":4,"bins":[[[100,2.5]]]}}}`, `power_curve.zones["package"].bins[0][0][1] is 2.5, not an integer`},
		"busy over bound":  {`{"zones":{"package":{"cpus":4,"bins":[[[99999999999,1]]]}}}`, `power_curve.zones["package"].bins[0][0][0] is 99999999999 milli-CPUs`},
		"no cpus":          {`{"zones":{"package":{"bins":[[[100,1]]]}}}`, `power_curve.zones["package"].cpus is missing`},
		"r2 above 1":       {`{"zones":{"dram":{"calibrated":{"time":"2026-12-01T00:00:00Z","idle_uw":1,"r2_ppm":1000001}}}}`, `power_curve.zones["dram"].calibrated.r2_ppm is 1000001`},
		"zones as array":   {`{"zones":[]}`, `power_curve.zones is a JSON array`},
	} {
		body := strings.Replace(good, `"dirs":`, `"power_curve":`+tc.curve+`,"dirs":`, 1)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(p)
		if err == nil || !strings.Contains(err.Error(), tc.path) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: got %v, want a refusal naming %s and the file", name, err, tc.path)
		}
		if err != nil && !strings.Contains(tc.path, "JSON") && !strings.Contains(tc.path, "integer") && !strings.Contains(err.Error(), "delete the power_curve member") {
			t.Errorf("%s: %v does not say how to keep the counters", name, err)
		}
	}
}
