package hostagent

import (
	"context"
	"errors"
	"io/fs"
	"slices"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/hostagent/fanout"
	"github.com/virtwatt/virtwatt/hostagent/state"
	"github.com/virtwatt/virtwatt/share"
)

// BenchmarkTick measures one whole tick with 1,000 running domains from fake
// sources: meter, split of two zones, 1,000 share writes (record and tree,
// on the test's temp dir) and the state file.
func BenchmarkTick(b *testing.B) {
	benchTick(b, true)
}

// BenchmarkTickNoWrites is the same tick without share or state I/O: the
// cost of reading sources, splitting and publishing.
func BenchmarkTickNoWrites(b *testing.B) {
	benchTick(b, false)
}

// BenchmarkTickParallelWrites is BenchmarkTick with the share writes
// spread over 4 writers, as virtwatt-host runs.
func BenchmarkTickParallelWrites(b *testing.B) {
	cfg := DefaultConfig()
	dir := b.TempDir()
	cfg.ShareRoot = dir + "/vms"
	cfg.StateFile = dir + "/state.json"
	h := newFakeHost(1, 1000)
	a := newTestAgentB(b, cfg, h)
	for range shareWriters - 1 {
		w, err := share.NewWriter(cfg.ShareRoot)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { w.Close() })
		a.AddWriters(w)
	}
	runTicks(b, a, h)
}

func runTicks(b *testing.B, a *Agent, h *fakeHost) {
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		h.advance(time.Second)
		a.Tick(ctx)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		h.advance(time.Second)
		b.StartTimer()
		if !a.Tick(ctx) {
			b.Fatal("tick failed")
		}
	}
}

func benchTick(b *testing.B, writes bool) {
	cfg := DefaultConfig()
	dir := b.TempDir()
	cfg.ShareRoot = dir + "/vms"
	cfg.StateFile = dir + "/state.json"
	h := newFakeHost(1, 1000)
	var a *Agent
	var err error
	if writes {
		a = newTestAgentB(b, cfg, h)
	} else {
		a, err = New(cfg, h.sources(), nil, state.New(), nil, quietLog())
		if err != nil {
			b.Fatal(err)
		}
	}
	runTicks(b, a, h)
}

// BenchmarkTickCompute is the tick at 1,000 running domains without its
// file writes but with everything computed for them: sources read, the
// split, every domain's share record built (and validated, as the share
// writer does before encoding it), the state file encoded and the view
// built. The share writer's own record encoding is not in it (share's
// BenchmarkWrite has it).
func BenchmarkTickCompute(b *testing.B) {
	h := newFakeHost(1, 1000)
	a := newComputeAgent(b, h)
	runTicks(b, a, h)
}

// discardWriter takes every share and writes nothing (it validates the
// record, as share.Writer does first).
type discardWriter struct{}

func (discardWriter) EnsureDir(string) error { return nil }
func (discardWriter) Write(_ string, rec *share.Record, _ bool) error {
	return rec.Validate()
}
func (discardWriter) ReadRecord(string) (*share.Record, error) { return nil, fs.ErrNotExist }
func (discardWriter) List() ([]string, error)                  { return nil, nil }
func (discardWriter) Remove(string) error                      { return nil }

// newComputeAgent is an agent that does all of a tick's work but writes
// no file: its shares go to discardWriter and its encoded state nowhere.
func newComputeAgent(tb testing.TB, h *fakeHost) *Agent {
	cfg := DefaultConfig()
	dir := tb.TempDir()
	cfg.ShareRoot = dir + "/vms"
	cfg.StateFile = dir + "/state.json"
	w, err := share.NewWriter(cfg.ShareRoot)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { w.Close() })
	a, err := New(cfg, h.sources(), w, state.New(), nil, quietLog())
	if err != nil {
		tb.Fatal(err)
	}
	a.shares = fanout.New([]fanout.Writer{discardWriter{}}, slices.Contains(cfg.Zones, share.ZoneDRAM), quietLog(), h.sources().Now)
	a.writeState = func(_ string, b []byte) error {
		if len(b) == 0 {
			return errors.New("empty state")
		}
		return nil
	}
	return a
}
