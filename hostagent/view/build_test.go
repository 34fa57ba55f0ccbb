package view

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/hostagent/domain"
	"github.com/virtwatt/virtwatt/hostagent/ledger"
	"github.com/virtwatt/virtwatt/hostagent/state"
	"github.com/virtwatt/virtwatt/share"
)

// Domains' figures carved from shared arrays stay each domain's own (more
// domains than hinted included), in Host.Zones order; a zone without a
// power figure has none; a VM with energy under another provenance gets
// both, sorted, current one present.
func TestBuildDomains(t *testing.T) {
	zones := []string{"package", "dram"}
	cur := state.ProvenanceKey(share.MethodMeasured, share.ModelRAPL)
	old := state.ProvenanceKey(share.MethodEstimated, share.ModelTDP)
	s := NewHost(time.Unix(0, 0), ledger.Totals{}, zones, cur, 2)
	const n = 5
	for i := range n {
		vm := &state.VM{Name: fmt.Sprint("vm", i), CPUTimeNS: uint64(i),
			Zones: map[string]share.ZoneEnergy{"package": {UsageUJ: uint64(10 * i), IdleUJ: 1}, "dram": {UsageUJ: uint64(100 * i)}}}
		if i == 3 {
			vm.ZonesByProvenance = map[string]map[string]share.ZoneEnergy{old: {"package": {UsageUJ: 7}}}
		}
		if i == 4 {
			s.AddGone(fmt.Sprint("u", i), vm)
			continue
		}
		d := &domain.Domain{UUID: fmt.Sprint("u", i), Name: vm.Name, State: domain.StateRunning}
		power := map[string]float64{"package": float64(i)}
		if i != 2 {
			power["dram"] = 0.5
		}
		s.AddDomain(d, vm, power, 0.1)
	}
	if len(s.Domains) != n {
		t.Fatalf("%d domains", len(s.Domains))
	}
	for i, d := range s.Domains {
		if !slices.Equal(d.UsageUJ, []uint64{uint64(10 * i), uint64(100 * i)}) || !slices.Equal(d.IdleUJ, []uint64{1, 0}) {
			t.Errorf("domain %d: usage %v idle %v", i, d.UsageUJ, d.IdleUJ)
		}
		if w, ok := d.Power(0); i < 4 && (!ok || w != float64(i)) {
			t.Errorf("domain %d: package power %v %v", i, w, ok)
		}
		if _, ok := d.Power(1); ok != (i != 2 && i < 4) {
			t.Errorf("domain %d: dram power known = %v", i, ok)
		}
		if i == 3 {
			if len(d.ByProvenance) != 2 || d.ByProvenance[0].Method != share.MethodEstimated || d.ByProvenance[0].UsageUJ[0] != 7 || d.ByProvenance[1].Method != share.MethodMeasured {
				t.Errorf("domain 3 by provenance %+v", d.ByProvenance)
			}
		} else if len(d.ByProvenance) != 1 || d.ByProvenance[0].Model != share.ModelRAPL || !slices.Equal(d.ByProvenance[0].UsageUJ, d.UsageUJ) {
			t.Errorf("domain %d by provenance %+v", i, d.ByProvenance)
		}
	}
	if d := s.Domains[4]; d.State != "gone" || d.PowerW != nil {
		t.Errorf("gone domain %+v", d)
	}
	// Appending to one domain's slice must not reach the next one's.
	_ = append(s.Domains[0].UsageUJ, 99)
	if s.Domains[1].UsageUJ[0] != 10 {
		t.Fatal("domains share their arrays' spare room")
	}
}
