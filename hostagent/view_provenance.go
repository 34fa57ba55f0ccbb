package hostagent

import (
	"cmp"
	"slices"
	"strings"

	"github.com/virtwatt/virtwatt/hostagent/ledger"
	"github.com/virtwatt/virtwatt/hostagent/state"
	"github.com/virtwatt/virtwatt/hostagent/view"
)

// provenanceKeys is the keys of m and the current provenance, sorted.
func provenanceKeys[V any](m map[string]V, cur string) []string {
	keys := []string{cur}
	for k := range m {
		if k != cur {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// hostEnergyByProvenance is the host counters by provenance for the view:
// every key of the totals under the current provenance (0 where nothing
// was booked under it yet), and each other provenance's own.
func hostEnergyByProvenance(total map[string]uint64, byProv map[string]map[string]uint64, cur string) []view.ZoneCounter {
	var out []view.ZoneCounter
	for _, p := range provenanceKeys(byProv, cur) {
		method, model := state.SplitProvenanceKey(p)
		keys := byProv[p]
		if p == cur {
			keys = total
		}
		for k := range keys {
			kind, sock := ledger.SplitHostKey(k)
			out = append(out, view.ZoneCounter{Kind: kind, Socket: sock, EnergyUJ: byProv[p][k], Method: method, Model: model})
		}
	}
	slices.SortFunc(out, func(a, b view.ZoneCounter) int {
		return cmp.Or(strings.Compare(a.Kind, b.Kind), strings.Compare(a.Method, b.Method), strings.Compare(a.Model, b.Model), cmp.Compare(a.Socket, b.Socket))
	})
	return out
}

// domainByProvenance is vm's energy by provenance over zones, the current
// provenance always present. usage and idle are the VM's totals by zone
// (the view's own maps): while everything is booked under the current
// provenance — every tick of a host that never changed meter — they are
// its energy, so no maps are built.
func domainByProvenance(vm *state.VM, zones []string, cur string, usage, idle map[string]uint64) []view.ProvenanceEnergy {
	if _, other := otherProvenance(vm.ZonesByProvenance, cur); !other {
		method, model := state.SplitProvenanceKey(cur)
		return []view.ProvenanceEnergy{{Method: method, Model: model, UsageUJ: usage, IdleUJ: idle}}
	}
	out := make([]view.ProvenanceEnergy, 0, 1+len(vm.ZonesByProvenance))
	for _, p := range provenanceKeys(vm.ZonesByProvenance, cur) {
		method, model := state.SplitProvenanceKey(p)
		pe := view.ProvenanceEnergy{Method: method, Model: model,
			UsageUJ: make(map[string]uint64, len(zones)), IdleUJ: make(map[string]uint64, len(zones))}
		for _, z := range zones {
			e := vm.ZonesByProvenance[p][z]
			pe.UsageUJ[z], pe.IdleUJ[z] = e.UsageUJ, e.IdleUJ
		}
		out = append(out, pe)
	}
	return out
}

// otherProvenance reports a key of m other than cur.
func otherProvenance[V any](m map[string]V, cur string) (string, bool) {
	for k := range m {
		if k != cur {
			return k, true
		}
	}
	return "", false
}
