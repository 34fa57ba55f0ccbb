package hostagent

import (
	"context"
	"runtime"
	"slices"
	"testing"
	"time"
)

// tickAllocs is the heap allocations of one steady-state tick of n running
// domains (all of it but the file writes: every record, the state file's
// encoding, the view), the median of 9 ticks.
func tickAllocs(t *testing.T, n int) uint64 {
	h := newFakeHost(3, n)
	a := newComputeAgent(t, h)
	ctx := context.Background()
	for range 5 { // baselines, first records, buffers grown
		h.advance(time.Second)
		if !a.Tick(ctx) && a.split.ok {
			t.Fatal("tick failed")
		}
	}
	var counts []uint64
	var ms runtime.MemStats
	for range 9 {
		h.advance(time.Second)
		runtime.ReadMemStats(&ms)
		before := ms.Mallocs
		if !a.Tick(ctx) {
			t.Fatal("tick failed")
		}
		runtime.ReadMemStats(&ms)
		counts = append(counts, ms.Mallocs-before)
	}
	slices.Sort(counts)
	return counts[len(counts)/2]
}

// In steady state a tick's allocations do not grow with the number of
// domains: about twenty per tick (host-wide maps, the view's few arrays),
// not twenty per VM.
func TestTickAllocationsDoNotGrowWithDomains(t *testing.T) {
	small, large := tickAllocs(t, 100), tickAllocs(t, 400)
	t.Logf("allocations per tick: %d at 100 domains, %d at 400", small, large)
	if large > 200 || large > small+30 {
		t.Fatalf("a steady tick allocates %d times at 100 domains and %d at 400: want no allocation per domain", small, large)
	}
}
