package fakerapl

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func readUint(t *testing.T, path string) uint64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

func TestTreeShape(t *testing.T) {
	tr, err := New(t.TempDir(), Standard(2, 40, 4, 10*time.Second), 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		dir, name string
		rangeUJ   uint64
	}{
		{"intel-rapl:0", "package-0", 400_000_000},
		{"intel-rapl:0:0", "core", 200_000_000},
		{"intel-rapl:0:1", "dram", 40_000_000},
		{"intel-rapl:1", "package-1", 400_000_000},
		{"intel-rapl:1:1", "dram", 40_000_000},
	}
	for _, tc := range tests {
		p := filepath.Join(tr.Root(), tc.dir)
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			t.Errorf("%s: want a symlink like /sys/class/powercap has, got %v", tc.dir, fi.Mode())
		}
		b, err := os.ReadFile(filepath.Join(p, "name"))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(b)); got != tc.name {
			t.Errorf("%s/name = %q, want %q", tc.dir, got, tc.name)
		}
		if got := readUint(t, filepath.Join(p, "max_energy_range_uj")); got != tc.rangeUJ {
			t.Errorf("%s max range = %d, want %d", tc.dir, got, tc.rangeUJ)
		}
	}
}

func TestStepAdvancesAndWraps(t *testing.T) {
	tests := []struct {
		name      string
		powerW    float64
		rangeUJ   uint64
		steps     int
		dt        time.Duration
		wantTotal uint64
		wantWraps int
	}{
		{"no wrap", 1, 10_000_000, 3, time.Second, 3_000_000, 0},
		{"one wrap", 1, 2_500_000, 3, time.Second, 3_000_000, 1},
		{"several wraps", 2, 1_500_000, 3, time.Second, 6_000_000, 3},
		{"fractional µJ carried", 1e-6, 100, 4, 250 * time.Millisecond, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := New(t.TempDir(), []ZoneSpec{{Socket: 0, Sub: -1, Name: "package-0", PowerW: tc.powerW, MaxRangeUJ: tc.rangeUJ}}, 0, 1)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < tc.steps; i++ {
				if err := tr.Step(tc.dt); err != nil {
					t.Fatal(err)
				}
			}
			totals, wraps := tr.Totals()
			if got := totals["intel-rapl:0"]; got != tc.wantTotal {
				t.Errorf("total = %d µJ, want %d", got, tc.wantTotal)
			}
			if got := wraps["intel-rapl:0"]; got != tc.wantWraps {
				t.Errorf("wraps = %d, want %d", got, tc.wantWraps)
			}
			if got := readUint(t, filepath.Join(tr.Root(), "intel-rapl:0", "energy_uj")); got != tc.wantTotal%tc.rangeUJ {
				t.Errorf("energy_uj = %d, want %d", got, tc.wantTotal%tc.rangeUJ)
			}
		})
	}
}

func TestNoiseStaysInBand(t *testing.T) {
	tr, err := New(t.TempDir(), []ZoneSpec{{Socket: 0, Sub: -1, Name: "package-0", PowerW: 100, MaxRangeUJ: 1 << 60}}, 0.05, 7)
	if err != nil {
		t.Fatal(err)
	}
	var prev uint64
	varied := false
	for i := 0; i < 50; i++ {
		if err := tr.Step(time.Second); err != nil {
			t.Fatal(err)
		}
		totals, _ := tr.Totals()
		d := totals["intel-rapl:0"] - prev
		if d < 95_000_000 || d > 105_000_001 {
			t.Fatalf("step %d: %d µJ outside 100 W ±5 %%", i, d)
		}
		if d != 100_000_000 {
			varied = true
		}
		prev = totals["intel-rapl:0"]
	}
	if !varied {
		t.Error("noise 0.05 produced a constant power")
	}
}

func TestNewRejectsZeroRange(t *testing.T) {
	if _, err := New(t.TempDir(), []ZoneSpec{{Sub: -1, Name: "package-0", PowerW: 1}}, 0, 1); err == nil {
		t.Fatal("want an error for max range 0")
	}
}

func TestResetRestartsCountersKeepsTotals(t *testing.T) {
	specs := []ZoneSpec{{Socket: 0, Sub: -1, Name: "package-0", PowerW: 10, MaxRangeUJ: 1 << 40}}
	tr, err := New(t.TempDir(), specs, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Step(3 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := tr.Reset(1234); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(tr.Root(), "intel-rapl:0", "energy_uj")
	if got := readUint(t, path); got != 1234 {
		t.Fatalf("energy_uj after Reset = %d, want 1234", got)
	}
	if err := tr.Step(time.Second); err != nil {
		t.Fatal(err)
	}
	if got := readUint(t, path); got != 1234+10_000_000 {
		t.Fatalf("energy_uj one second after Reset = %d, want %d", got, 1234+10_000_000)
	}
	totals, _ := tr.Totals()
	if got := totals["intel-rapl:0"]; got != 40_000_000 {
		t.Fatalf("total = %d µJ, want 40,000,000 (Reset hides energy from the counter, not from the truth)", got)
	}
}
