package procstat

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadTestdata(t *testing.T) {
	c, err := Read("testdata")
	if err != nil {
		t.Fatal(err)
	}
	// busy = user+nice+system+irq+softirq+steal = 2255+34+2290+127+456+12 = 5174
	// ticks; guest (300) and guest_nice (7) are not added. idle = 22625563+6290.
	want := CPU{BusyNS: 5174 * 10_000_000, IdleNS: 22631853 * 10_000_000, CPUs: 4}
	if c != want {
		t.Fatalf("Read = %+v, want %+v", c, want)
	}
}

func writeStat(t *testing.T, content string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestReadShapes(t *testing.T) {
	longIntr := "intr " + strings.Repeat("12345 ", 30000) + "\n" // ~180 KB, as on big hosts
	tests := []struct {
		name    string
		content string
		want    CPU
	}{
		{
			name:    "pre-2.6.11 kernel: four fields",
			content: "cpu 1 2 3 4\ncpu0 1 2 3 4\n",
			want:    CPU{BusyNS: 6 * 1e7, IdleNS: 4 * 1e7, CPUs: 1},
		},
		{
			name:    "eight fields (steal, no guest)",
			content: "cpu 1 0 1 10 2 1 1 4\ncpu0 1 0 1 10 2 1 1 4\ncpu1 0 0 0 0 0 0 0 0\n",
			want:    CPU{BusyNS: 8 * 1e7, IdleNS: 12 * 1e7, CPUs: 2},
		},
		{
			name:    "guest time is not added on top of user",
			content: "cpu 100 0 0 0 0 0 0 0 100 0\ncpu0 100 0 0 0 0 0 0 0 100 0\n",
			want:    CPU{BusyNS: 100 * 1e7, IdleNS: 0, CPUs: 1},
		},
		{
			name:    "long intr line after the cpu lines",
			content: "cpu 5 0 5 10 0 0 0 0 0 0\ncpu0 5 0 5 10 0 0 0 0 0 0\n" + longIntr + "ctxt 1\n",
			want:    CPU{BusyNS: 10 * 1e7, IdleNS: 10 * 1e7, CPUs: 1},
		},
		{
			name:    "no trailing newline",
			content: "cpu 1 0 0 1\ncpu0 1 0 0 1",
			want:    CPU{BusyNS: 1e7, IdleNS: 1e7, CPUs: 1},
		},
		{
			name:    "large counters",
			content: "cpu 18446744073 0 0 0\ncpu0 18446744073 0 0 0\n",
			want:    CPU{BusyNS: 18446744073 * 1e7, CPUs: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Read(writeStat(t, tt.content))
			if err != nil {
				t.Fatal(err)
			}
			if c != tt.want {
				t.Fatalf("Read = %+v, want %+v", c, tt.want)
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    string
	}{
		{"empty", "", `no aggregate "cpu" line`},
		{"no aggregate line", "cpu0 1 2 3 4\nintr 1\n", `no aggregate "cpu" line`},
		{"no per-cpu lines", "cpu 1 2 3 4\nintr 1\n", `no per-CPU "cpuN" lines`},
		{"too few fields", "cpu 1 2 3\ncpu0 1 2 3\n", "3 fields, want at least 4"},
		{"garbage field", "cpu 1 2 x3 4\ncpu0 1 2 3 4\n", `field 3 "x3" is not a number`},
		{"negative field", "cpu 1 -2 3 4\ncpu0 1 2 3 4\n", `field 2 "-2"`},
		{"overflow", "cpu 18446744073709551616 0 0 0\ncpu0 0 0 0 0\n", "is not a number"},
		{"second aggregate line", "cpu 1 2 3 4\ncpu 1 2 3 4\ncpu0 1 2 3 4\n", "line 2: second aggregate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeStat(t, tt.content)
			_, err := Read(dir)
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range []string{filepath.Join(dir, "stat"), tt.want} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	missing := filepath.Join(t.TempDir(), "proc")
	if _, err := Read(missing); err == nil || !strings.Contains(err.Error(), filepath.Join(missing, "stat")) {
		t.Errorf("missing file: error %v, want it to name %s", err, filepath.Join(missing, "stat"))
	}
}

// Read works on this machine's /proc (Linux CI) and sees at least one CPU.
func TestReadLiveProc(t *testing.T) {
	c, err := Read("/proc")
	if err != nil {
		t.Fatal(err)
	}
	if c.CPUs < 1 || c.BusyNS+c.IdleNS == 0 {
		t.Fatalf("live /proc/stat parsed as %+v", c)
	}
}

func BenchmarkRead(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Read("testdata"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestReadTicks: the guest's reading, in clock ticks; a stat file without
// cpuN lines (as some test trees and containers have) is not an error
// there, and the same malformed lines are refused as by Read.
func TestReadTicks(t *testing.T) {
	for _, tc := range []struct {
		name, content string
		want          Ticks
		wantErr       string
	}{
		{name: "with cpuN lines", content: "cpu  10 1 5 100 4 2 3 7 50 0\ncpu0 10 1 5 100 4 2 3 7 50 0\nintr 1\n", want: Ticks{Busy: 28, Idle: 104, Steal: 7, CPUs: 1}},
		{name: "aggregate only", content: "cpu 1 2 3 4 5\n", want: Ticks{Busy: 6, Idle: 9}},
		{name: "not a number", content: "cpu 1 x 3 4 5\n", wantErr: `field 2 "x"`},
		{name: "too few fields", content: "cpu 1 2 3\n", wantErr: "at least 4"},
		{name: "no cpu line", content: "intr 1 2\n", wantErr: `no aggregate "cpu" line`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(writeStat(t, tc.content), "stat")
			got, err := ReadTicks(path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), path) {
					t.Fatalf("ReadTicks = %+v, %v; want an error naming %s and %q", got, err, path, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want || got.Total() != tc.want.Busy+tc.want.Idle {
				t.Fatalf("ReadTicks = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// TestReadTicksAllocations: a reading costs a constant, small number of
// allocations (the open file), however long the rest of the file is.
func TestReadTicksAllocations(t *testing.T) {
	path := filepath.Join(writeStat(t, "cpu 1 2 3 4 5\ncpu0 1 2 3 4 5\nintr "+strings.Repeat("7 ", 20000)+"\n"), "stat")
	if _, err := ReadTicks(path); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(50, func() { _, _ = ReadTicks(path) }); n > 4 {
		t.Fatalf("%v allocations per ReadTicks, want at most 4", n)
	}
}
