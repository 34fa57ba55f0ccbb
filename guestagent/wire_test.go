package guestagent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/guestagent/measure"
	"github.com/virtwatt/virtwatt/guestagent/procsplit"
	"github.com/virtwatt/virtwatt/share"
)

// TestAgentWithOutputs wires the outputs a Config names (per-process split
// from the real /proc, JSON lines, CSV) and checks each receives the VM's
// energy.
func TestAgentWithOutputs(t *testing.T) {
	root := t.TempDir()
	w, err := share.NewWriter(root)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	cfg := testConfig(filepath.Join(root, "vm1"))
	cfg.JSONL = filepath.Join(t.TempDir(), "samples.jsonl")
	cfg.CSV = filepath.Join(t.TempDir(), "emissions.csv")
	cfg.CSVInterval = Duration{time.Millisecond}
	cfg.Country = "FR"
	cfg.ProcScanInterval = Duration{} // split at each of the two updates below, not every 5 s
	outs, err := BuildOutputs(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, stop := startAgent(t, cfg, outs.Options()...)
	if err := w.Write("vm1", testRecord(1, 1_000_000, 0), false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, a, "share up", func(m map[string]float64) bool { return m["virtwatt_share_up"] == 1 })
	if err := w.Write("vm1", testRecord(2, 3_000_000, 0), false); err != nil {
		t.Fatal(err)
	}
	m := waitFor(t, a, "process split", func(m map[string]float64) bool {
		_, ok := m["virtwatt_guest_idle_energy_joules_total"]
		return ok
	})
	var split float64
	for k, v := range m {
		if strings.HasPrefix(k, "virtwatt_process_energy_joules_total") || k == "virtwatt_guest_idle_energy_joules_total" {
			split += v
		}
	}
	if !near(split, 2) { // the 2 J between the two records, split exactly
		t.Fatalf("processes + idle = %v J, want 2", split)
	}
	stop()

	b, err := os.ReadFile(cfg.JSONL)
	if err != nil || !strings.Contains(string(b), `"domain":"vm1"`) {
		t.Fatalf("jsonl: %v\n%s", err, b)
	}
	b, err = os.ReadFile(cfg.CSV)
	if err != nil || !strings.HasPrefix(string(b), "timestamp,project_name,run_id") {
		t.Fatalf("csv: %v\n%.300s", err, b)
	}
	if !strings.Contains(string(b), "FRA") {
		t.Fatalf("csv rows lack the configured country:\n%.600s", b)
	}
}

// fakeProcRoot writes a /proc with the given aggregate busy and idle ticks
// and one process "worker" (pid 42) with the given CPU ticks.
func fakeProcRoot(t *testing.T, root string, busy, idle, worker uint64) {
	t.Helper()
	stat := fmt.Sprintf("cpu  %d 0 0 %d 0 0 0 0 0 0\ncpu0 0 0 0 0 0 0 0 0 0 0\nintr 0\n", busy, idle)
	if err := os.WriteFile(filepath.Join(root, "stat"), []byte(stat), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "42")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	line := fmt.Sprintf("42 (worker) S 1 42 42 0 -1 4194560 100 0 0 0 %d 0 0 0 20 0 1 0 7 1000000 100 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n", worker)
	if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestSplitSinkClearsProcessPower: per-process power is not exported
// frozen while the VM's power is unknown: not once the share is down, not
// when no split came for longer than the staleness limit, and not once that
// limit passed with no sample at all (a poll loop stuck in a read).
func TestSplitSinkClearsProcessPower(t *testing.T) {
	tests := []struct {
		name  string
		after func(sink *splitSink, advance func(time.Duration))
	}{
		{"share down", func(sink *splitSink, _ func(time.Duration)) {
			sink.Emit(context.Background(), measure.Sample{Time: hostT0.Add(2 * time.Second), Up: false,
				StaleAfter: 3 * time.Second, EnergyUJ: map[string]uint64{share.ZonePackage: 3_000_000}})
		}},
		{"no split for longer than the staleness limit", func(sink *splitSink, _ func(time.Duration)) {
			sink.Emit(context.Background(), measure.Sample{Time: hostT0.Add(5 * time.Second), Up: true,
				StaleAfter: 3 * time.Second, EnergyUJ: map[string]uint64{share.ZonePackage: 3_000_000}})
		}},
		{"no sample at all past the limit", func(_ *splitSink, advance func(time.Duration)) {
			advance(4 * time.Second)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			now := hostT0
			clock := func() time.Time { return now }
			split := procsplit.New(procsplit.Options{ProcRoot: root, TopN: 5, Now: clock})
			sink := &splitSink{s: split}
			emit := func(sec int, uj uint64) {
				now = hostT0.Add(time.Duration(sec) * time.Second)
				if err := sink.Emit(context.Background(), measure.Sample{Time: now, Up: true, StaleAfter: 3 * time.Second,
					EnergyUJ: map[string]uint64{share.ZonePackage: uj}}); err != nil {
					t.Fatal(err)
				}
			}
			fakeProcRoot(t, root, 100, 100, 0)
			emit(0, 1_000_000)
			fakeProcRoot(t, root, 150, 150, 50)
			emit(1, 3_000_000)
			if top := split.Snapshot().Top; len(top) != 1 || top[0].Comm != "worker" {
				t.Fatalf("after a split: top %+v, want the worker", top)
			}
			tt.after(sink, func(d time.Duration) { now = now.Add(d) })
			if top := split.Snapshot().Top; len(top) != 0 {
				t.Fatalf("top %+v, want none while the VM's power is unknown", top)
			}
		})
	}
}
