package hostagent

import (
	"context"
	"testing"
	"time"

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
