package hostagent

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/hostagent/state"
)

// TestSplitRawFollowsListedDomains checks that, tick after tick, the raw
// CPU times splitTick compares with are exactly the listed domains' last
// counters, whether the list stays the same (read and updated by index),
// is reordered, shrinks, grows or a counter goes back: a stale raw time
// would count CPU time twice or not at all.
func TestSplitRawFollowsListedDomains(t *testing.T) {
	cfg := testConfig(t)
	h := newFakeHost(3, 8)
	a := newTestAgent(t, cfg, h, state.New())
	ctx := context.Background()
	for i := range 40 {
		switch i {
		case 10: // reordered
			slices.Reverse(h.doms)
		case 15: // one vanishes
			h.doms = h.doms[1:]
		case 20: // a qemu restart: counters back to 0
			h.doms[2].VCPUTimeNS, h.doms[2].CPUTimeNS = 0, 0
		case 25: // the vanished one is back, last
			h.doms = append(h.doms, newFakeHost(3, 8).doms[7])
		}
		h.advance(time.Second)
		if !a.Tick(ctx) && i > 0 {
			t.Fatalf("tick %d did not split", i)
		}
		if len(a.split.raw) != len(h.doms) {
			t.Fatalf("tick %d: %d raw times for %d listed domains", i, len(a.split.raw), len(h.doms))
		}
		for _, d := range h.doms {
			r, ok := a.split.raw[d.UUID]
			if !ok || (d.VCPUTimeNS != 0 && r.vcpu != d.VCPUTimeNS) || (d.CPUTimeNS != 0 && r.cpu != d.CPUTimeNS) {
				t.Fatalf("tick %d: raw times of %s are %+v (present %v), want vcpu %d cpu %d", i, d.Name, r, ok, d.VCPUTimeNS, d.CPUTimeNS)
			}
		}
	}
}
