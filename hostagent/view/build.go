package view

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/virtwatt/virtwatt/hostagent/domain"
	"github.com/virtwatt/virtwatt/hostagent/ledger"
	"github.com/virtwatt/virtwatt/hostagent/state"
)

// NewHost is the host part of a tick's view from the ledger's totals t:
// the host counters sorted by kind and socket, by provenance (cur, the
// state's key of the provenance in force, always present), the host's
// own, forgotten and pending energy and the embodied totals. The caller
// adds the rest (power, intensity, curves, provenance labels) and the
// domains (AddDomain, AddGone).
func NewHost(now time.Time, t ledger.Totals, zones []string, cur string) *Host {
	s := &Host{
		Time:           now,
		UnattributedUJ: t.UnattributedUJ,
		ForgottenUJ:    t.ForgottenUJ,
		PendingUJ:      t.PendingUJ,
		Zones:          zones,

		EmbodiedUG: t.EmbodiedAmortisedUG, EmbodiedHostUG: t.EmbodiedHostUG, EmbodiedForgottenUG: t.EmbodiedForgottenUG,
	}
	s.HostEnergy = make([]ZoneCounter, 0, len(t.HostEnergyUJ))
	for k, v := range t.HostEnergyUJ {
		kind, n := ledger.SplitHostKey(k)
		s.HostEnergy = append(s.HostEnergy, ZoneCounter{Kind: kind, Socket: n, EnergyUJ: v})
	}
	s.HostEnergyByProvenance = hostEnergyByProvenance(t.HostEnergyUJ, t.HostEnergyByProvenanceUJ, cur)
	slices.SortFunc(s.HostEnergy, func(a, b ZoneCounter) int {
		return cmp.Or(strings.Compare(a.Kind, b.Kind), cmp.Compare(a.Socket, b.Socket))
	})
	return s
}

// AddDomain adds a listed domain d with its state vm, its power over the
// last split by zone (nil: none yet; copied) and its CPU share of the host.
// cur is the provenance in force (NewHost).
func (s *Host) AddDomain(d *domain.Domain, vm *state.VM, cur string, powerW map[string]float64, cpuShare float64) {
	ds := s.domain(d.UUID, vm, cur)
	ds.Name, ds.State, ds.VCPUs, ds.Labels, ds.CPUShare = d.Name, string(d.State), d.VCPUs, d.Labels, cpuShare
	ds.PowerW = make(map[string]float64, len(s.Zones))
	for z, w := range powerW {
		ds.PowerW[z] = w
	}
	s.Domains = append(s.Domains, ds)
}

// AddGone adds a domain no longer listed, which keeps its counters (state
// "gone") until it is forgotten, so that Σ domains + unattributed +
// forgotten + pending = host energy holds on the view.
func (s *Host) AddGone(uuid string, vm *state.VM, cur string) {
	ds := s.domain(uuid, vm, cur)
	ds.Name, ds.State, ds.Labels = vm.Name, "gone", vm.Labels
	s.Domains = append(s.Domains, ds)
}

// domain is the counters of a domain's view.
func (s *Host) domain(uuid string, vm *state.VM, cur string) Domain {
	ds := Domain{
		UUID:      uuid,
		UsageUJ:   make(map[string]uint64, len(s.Zones)),
		IdleUJ:    make(map[string]uint64, len(s.Zones)),
		CPUTimeNS: vm.CPUTimeNS,
	}
	ds.EmbodiedUG, ds.Emissions = vm.EmbodiedUG, vm.Emissions
	for _, z := range s.Zones {
		ds.UsageUJ[z] = vm.Zones[z].UsageUJ
		ds.IdleUJ[z] = vm.Zones[z].IdleUJ
	}
	ds.ByProvenance = domainByProvenance(vm, s.Zones, cur, ds.UsageUJ, ds.IdleUJ)
	return ds
}

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
func hostEnergyByProvenance(total map[string]uint64, byProv map[string]map[string]uint64, cur string) []ZoneCounter {
	var out []ZoneCounter
	for _, p := range provenanceKeys(byProv, cur) {
		method, model := state.SplitProvenanceKey(p)
		keys := byProv[p]
		if p == cur {
			keys = total
		}
		for k := range keys {
			kind, sock := ledger.SplitHostKey(k)
			out = append(out, ZoneCounter{Kind: kind, Socket: sock, EnergyUJ: byProv[p][k], Method: method, Model: model})
		}
	}
	slices.SortFunc(out, func(a, b ZoneCounter) int {
		return cmp.Or(strings.Compare(a.Kind, b.Kind), strings.Compare(a.Method, b.Method), strings.Compare(a.Model, b.Model), cmp.Compare(a.Socket, b.Socket))
	})
	return out
}

// domainByProvenance is vm's energy by provenance over zones, the current
// provenance always present. usage and idle are the VM's totals by zone
// (the view's own maps): while everything is booked under the current
// provenance — every tick of a host that never changed meter — they are
// its energy, so no maps are built.
func domainByProvenance(vm *state.VM, zones []string, cur string, usage, idle map[string]uint64) []ProvenanceEnergy {
	if _, other := otherProvenance(vm.ZonesByProvenance, cur); !other {
		method, model := state.SplitProvenanceKey(cur)
		return []ProvenanceEnergy{{Method: method, Model: model, UsageUJ: usage, IdleUJ: idle}}
	}
	out := make([]ProvenanceEnergy, 0, 1+len(vm.ZonesByProvenance))
	for _, p := range provenanceKeys(vm.ZonesByProvenance, cur) {
		method, model := state.SplitProvenanceKey(p)
		pe := ProvenanceEnergy{Method: method, Model: model,
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
