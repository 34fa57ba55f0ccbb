package view

import (
	"cmp"
	"math"
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
// domains (AddDomain, AddGone); domains is how many it will add, about:
// their figures are carved from a few arrays sized for that many, so that
// building the view costs a handful of allocations, not several per VM.
func NewHost(now time.Time, t ledger.Totals, zones []string, cur string, domains int) *Host {
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
	s.cur = cur
	s.curMethod, s.curModel = state.SplitProvenanceKey(cur)
	s.hint = max(domains, 1)
	s.Domains = make([]Domain, 0, domains)
	return s
}

// AddDomain adds a listed domain d with its state vm, its power over the
// last split by zone (nil: none yet) and its CPU share of the host.
func (s *Host) AddDomain(d *domain.Domain, vm *state.VM, powerW map[string]float64, cpuShare float64) {
	ds := s.domain(d.UUID, vm)
	ds.Name, ds.State, ds.VCPUs, ds.Labels, ds.CPUShare = d.Name, string(d.State), d.VCPUs, d.Labels, cpuShare
	ds.PowerW = s.floats(len(s.Zones))
	for i, z := range s.Zones {
		w, ok := powerW[z]
		if !ok {
			w = math.NaN() // no figure (Domain.Power)
		}
		ds.PowerW[i] = w
	}
	s.Domains = append(s.Domains, ds)
}

// AddGone adds a domain no longer listed, which keeps its counters (state
// "gone") until it is forgotten, so that Σ domains + unattributed +
// forgotten + pending = host energy holds on the view.
func (s *Host) AddGone(uuid string, vm *state.VM) {
	ds := s.domain(uuid, vm)
	ds.Name, ds.State, ds.Labels = vm.Name, "gone", vm.Labels
	s.Domains = append(s.Domains, ds)
}

// domain is the counters of a domain's view.
func (s *Host) domain(uuid string, vm *state.VM) Domain {
	n := len(s.Zones)
	ds := Domain{
		UUID:      uuid,
		UsageUJ:   s.uints(n),
		IdleUJ:    s.uints(n),
		CPUTimeNS: vm.CPUTimeNS,
	}
	ds.EmbodiedUG, ds.Emissions = vm.EmbodiedUG, vm.Emissions
	for i, z := range s.Zones {
		e := vm.Zones[z]
		ds.UsageUJ[i], ds.IdleUJ[i] = e.UsageUJ, e.IdleUJ
	}
	if !otherProvenance(vm.ZonesByProvenance, s.cur) {
		// Everything under the current provenance (every tick of a host
		// that never changed meter): its energy is the totals.
		pe := s.provenances()
		pe[0] = ProvenanceEnergy{Method: s.curMethod, Model: s.curModel, UsageUJ: ds.UsageUJ, IdleUJ: ds.IdleUJ}
		ds.ByProvenance = pe
	} else {
		ds.ByProvenance = domainByProvenance(vm, s.Zones, s.cur)
	}
	return ds
}

// arena is what a Host's domains' figures are carved from.
type arena struct {
	u  []uint64
	f  []float64
	pe []ProvenanceEnergy
}

// uints is n counters from the arena (a new chunk, sized for the hinted
// number of domains, when it runs out).
func (s *Host) uints(n int) []uint64 {
	if len(s.arena.u) < n {
		s.arena.u = make([]uint64, max(n, 2*n*s.hint))
	}
	r := s.arena.u[:n:n]
	s.arena.u = s.arena.u[n:]
	return r
}

func (s *Host) floats(n int) []float64 {
	if len(s.arena.f) < n {
		s.arena.f = make([]float64, max(n, n*s.hint))
	}
	r := s.arena.f[:n:n]
	s.arena.f = s.arena.f[n:]
	return r
}

// provenances is a one-element slice from the arena.
func (s *Host) provenances() []ProvenanceEnergy {
	if len(s.arena.pe) < 1 {
		s.arena.pe = make([]ProvenanceEnergy, s.hint)
	}
	r := s.arena.pe[:1:1]
	s.arena.pe = s.arena.pe[1:]
	return r
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
// provenance (cur) always present, for a VM with energy booked under
// another provenance.
func domainByProvenance(vm *state.VM, zones []string, cur string) []ProvenanceEnergy {
	out := make([]ProvenanceEnergy, 0, 1+len(vm.ZonesByProvenance))
	for _, p := range provenanceKeys(vm.ZonesByProvenance, cur) {
		method, model := state.SplitProvenanceKey(p)
		pe := ProvenanceEnergy{Method: method, Model: model,
			UsageUJ: make([]uint64, len(zones)), IdleUJ: make([]uint64, len(zones))}
		for i, z := range zones {
			e := vm.ZonesByProvenance[p][z]
			pe.UsageUJ[i], pe.IdleUJ[i] = e.UsageUJ, e.IdleUJ
		}
		out = append(out, pe)
	}
	return out
}

// otherProvenance reports whether m has a key other than cur.
func otherProvenance[V any](m map[string]V, cur string) bool {
	for k := range m {
		if k != cur {
			return true
		}
	}
	return false
}
