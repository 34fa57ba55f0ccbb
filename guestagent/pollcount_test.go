package guestagent

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/guestagent/measure"
	"github.com/virtwatt/virtwatt/share"
)

// totalsSink keeps the VM energy of every sample it gets.
type totalsSink struct {
	mu     sync.Mutex
	totals []uint64
}

func (s *totalsSink) Emit(_ context.Context, m measure.Sample) error {
	s.mu.Lock()
	s.totals = append(s.totals, m.TotalEnergyUJ())
	s.mu.Unlock()
	return nil
}

// While a local share is seen changing, each update is polled once: the
// poll a change pokes moves the next timed poll a whole interval away, so
// the timer does not read again what was just read.
func TestPokedPollDelaysTheTimedOne(t *testing.T) {
	root := t.TempDir()
	w, err := share.NewWriter(root)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	cfg := testConfig(filepath.Join(root, "vm1"))
	cfg.PollInterval = Duration{300 * time.Millisecond}
	sink := &totalsSink{}
	if err := w.Write("vm1", testRecord(1, 1_000_000, 0), false); err != nil {
		t.Fatal(err)
	}
	_, stop := startAgent(t, cfg, WithSink(sink))
	for seq := uint64(2); seq <= 16; seq++ {
		time.Sleep(100 * time.Millisecond)
		if err := w.Write("vm1", testRecord(seq, seq*1_000_000, 0), false); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(50 * time.Millisecond)
	stop()
	sink.mu.Lock()
	defer sink.mu.Unlock()
	dups := 0
	for i := 1; i < len(sink.totals); i++ {
		if sink.totals[i] == sink.totals[i-1] {
			dups++
		}
	}
	// Before: a timed poll every 300 ms re-read the update just poked (about 5).
	if dups > 1 {
		t.Fatalf("%d of %d polls re-read an update already polled, want at most 1: %v", dups, len(sink.totals), sink.totals)
	}
}
