package guestagent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
