package doctor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// procTree copies the meter's fake /proc (cpuinfo, meminfo) and adds a
// stat file.
func procTree(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"cpuinfo", "meminfo"} {
		b, err := os.ReadFile(filepath.Join("..", "meter", "testdata", "proc", name, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "stat"), []byte("cpu  10 0 0 30 0 0 0 0 0 0\ncpu0 10 0 0 30 0 0 0 0 0 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestMeterCheckSaysWhichMeter: the meter line names the meter the agent
// will use and, when it estimates, why, the CPU matched (or not) and the
// figures.
func TestMeterCheckSaysWhichMeter(t *testing.T) {
	noRAPL := t.TempDir()
	tests := []struct {
		name, kind, tree string
		status           Status
		detail, fix      []string
	}{
		{"auto without RAPL, known CPU", "auto", "xeon-2s", Warn,
			[]string{"will use estimate (method estimated, model tdp)", `matched "Intel Xeon Gold 6248"`, "TDP 150 W × 2 socket(s)",
				"P_max 300.0 W", "DRAM 6.3 W", "no readable RAPL", noRAPL},
			[]string{"run virtwatt-host as root"}},
		{"estimate forced, known CPU", "estimate", "xeon-2s", OK,
			[]string{"will use estimate", "Gold 6248", "idle fraction 0.211"}, nil},
		{"estimate forced, unknown CPU", "estimate", "qemu", Warn,
			[]string{"not in the TDP table", "3.5 W per thread × 4 threads", "P_max 14.0 W"},
			[]string{"estimate_tdp_watts"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := checkMeter(Options{Meter: tc.kind, PowercapRoot: noRAPL, MSRRoot: filepath.Join(noRAPL, "cpu"), ProcRoot: procTree(t, tc.tree)})
			t.Logf("%s: %s (fix: %s)", c.Status, c.Detail, c.Fix)
			if c.Status != tc.status {
				t.Errorf("status %s, want %s", c.Status, tc.status)
			}
			for _, w := range tc.detail {
				if !strings.Contains(c.Detail, w) {
					t.Errorf("detail lacks %q", w)
				}
			}
			for _, w := range tc.fix {
				if !strings.Contains(c.Fix, w) {
					t.Errorf("fix lacks %q", w)
				}
			}
		})
	}
}
