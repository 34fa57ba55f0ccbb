package hostagent

import (
	"cmp"
	"slices"
	"strings"

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
			kind, sock := splitHostKey(k)
			out = append(out, view.ZoneCounter{Kind: kind, Socket: sock, EnergyUJ: byProv[p][k], Method: method, Model: model})
		}
	}
	slices.SortFunc(out, func(a, b view.ZoneCounter) int {
		return cmp.Or(strings.Compare(a.Kind, b.Kind), strings.Compare(a.Method, b.Method), strings.Compare(a.Model, b.Model), cmp.Compare(a.Socket, b.Socket))
	})
	return out
}

// splitHostKey is ledger.HostKey's inverse.
func splitHostKey(k string) (kind string, socket int) {
	kind, sock, _ := strings.Cut(k, "/")
	for _, c := range sock {
		socket = socket*10 + int(c-'0')
	}
	return kind, socket
}

// domainByProvenance is vm's energy by provenance over zones, the current
// provenance always present.
func domainByProvenance(vm *state.VM, zones []string, cur string) []view.ProvenanceEnergy {
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
