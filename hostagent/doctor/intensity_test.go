package doctor

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/hostagent/intensity"
)

// doctor reads the live intensity source once: a good reading is shown
// (value, zone, age); a refused one, or a file that is not there, fails
// naming what is wrong; without a live source there is no check.
func TestCheckIntensity(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	now := func() time.Time { return time.Date(2026, 12, 1, 13, 30, 0, 0, time.UTC) }
	for _, tc := range []struct {
		name   string
		cfg    intensity.Config
		status Status // "" for no check
		want   string
	}{
		{"constant only", intensity.Config{GramsPerKWh: 300}, "", ""},
		{"good file", intensity.Config{File: write("good.json", `{"zone":"DE","carbonIntensity":321,"datetime":"2026-12-01T13:00:00Z"}`)}, OK, "321 gCO2e/kWh, zone DE, published 2026-12-01T13:00:00Z (30m0s ago)"},
		{"negative value", intensity.Config{File: write("neg.json", `{"carbonIntensity":-3}`), GramsPerKWh: 250}, Fail, "negative"},
		{"garbage", intensity.Config{File: write("garbage.csv", "\x00\xff{{{\n")}, Fail, "refused"},
		{"missing file", intensity.Config{File: filepath.Join(dir, "missing.json")}, Fail, "carbon_intensity_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := checkIntensity(context.Background(), tc.cfg, now)
			if tc.status == "" {
				if ok {
					t.Fatalf("no live source, yet a check: %+v", c)
				}
				return
			}
			if !ok || c.Status != tc.status || !strings.Contains(c.Detail, tc.want) {
				t.Fatalf("check %+v (%v), want status %s and a detail with %q", c, ok, tc.status, tc.want)
			}
			if c.Status == Fail && c.Fix == "" {
				t.Fatal("a failure without a fix")
			}
		})
	}
}

// Run includes the check: a broken intensity file makes the report fail.
func TestRunChecksIntensity(t *testing.T) {
	s := newSetup(t, 1)
	s.opts.Intensity = intensity.Config{File: filepath.Join(t.TempDir(), "none.json")}
	r := s.run(t)
	if _, ok := failed(r)["carbon intensity"]; !ok || r.OK {
		t.Fatalf("a missing carbon_intensity_file: failures %v, OK %v", failed(r), r.OK)
	}
}
