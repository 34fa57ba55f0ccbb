package guestagent

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/internal/logcapture"
	"github.com/virtwatt/virtwatt/share"
)

// TestFlappingShareDoesNotFlood: a share whose record is good on one
// poll and garbled on the next, for two minutes, logs a few state changes,
// one line saying it flaps, and one when it is steady again, not a line
// per poll; a share that changes state now and then still logs each.
func TestFlappingShareDoesNotFlood(t *testing.T) {
	root := t.TempDir()
	w, err := share.NewWriter(root)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	dir := filepath.Join(root, "vm1")
	logs, logger := logcapture.New()
	now := hostT0
	cfg := testConfig(dir)
	cfg.PollInterval = Duration{time.Second}
	a, err := New(cfg, logger, withClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	const polls = 120
	for i := range polls + 70 {
		present := i >= polls || i%2 == 0
		if present {
			r := testRecord(uint64(i+1), uint64(i+1)*1_000_000, 0)
			r.Timestamp = now
			if err := w.Write("vm1", r, true); err != nil {
				t.Fatal(err)
			}
		} else if err := os.WriteFile(filepath.Join(dir, share.RecordFile), []byte("{garbage"), 0o644); err != nil {
			t.Fatal(err)
		}
		a.poll(context.Background())
		now = now.Add(time.Second)
	}
	var warnInfo int
	var steady bool
	for _, r := range logs.Records() {
		if r.Level >= slog.LevelInfo {
			warnInfo++
		}
		if r.Message == "share state steady again: its changes are logged again" {
			steady = true
		}
	}
	if warnInfo > 12 {
		t.Fatalf("%d lines at info or above over %d flapping polls, want a few:\n%q", warnInfo, polls, logcapture.Messages(logs.Records()))
	}
	if !steady {
		t.Fatalf("no line when the share held again:\n%q", logcapture.Messages(logs.Records()))
	}
}
