package hostagent

import (
	"context"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/hostagent/state"
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
