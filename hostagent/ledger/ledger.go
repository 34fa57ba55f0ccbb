// Package ledger is the only writer of virtwatt-host's energy counters: the
// host's measured energy per zone and socket, every VM's cumulative usage
// and idle energy, the host's own (unattributed) share, the energy of
// forgotten VMs and the energy measured but not split yet (pending).
//
// Invariant, per counted zone z, exact to the µJ after every method:
//
//	Σ_vm VMs[vm].Zones[z].TotalUJ() + Unattributed[z] + Forgotten[z] + Pending[z] = Measured[z]
//
// where Measured[z] is the counted energy of zone z given to Measure since
// the state began (Σ over sockets of HostEnergyUJ["z/socket"] when the
// counted zones never changed). Measure adds to both sides (host counters
// and pending); Split moves pending to the VMs and unattributed; Forget
// moves a VM's energy to forgotten; Unattribute moves pending to
// unattributed. Nothing else writes these counters.
//
// The ledger also keeps the embodied (manufacturing) emissions, in µg
// CO2e, exact to the µg after every method:
//
//	Σ_vm VMs[vm].EmbodiedUG + Embodied.HostUG + Embodied.ForgottenUG = Embodied.Amortised()
//
// Embody adds the growth of the amortised total to both sides (to VMs by
// allocated vCPUs, the rest to the host); Forget moves a VM's part to
// forgotten; SetEmbodied changes the rate without changing the total. And
// each VM's emissions by part (Emissions): Split prices the energy it
// gives at the price of SetPrice, the one in force at that tick.
//
// Every energy counter is also booked under the provenance in force
// (SetProvenance; measured by RAPL until told otherwise), exact to the µJ:
//
//	Σ_p HostEnergyByProvenanceUJ[p][k] = HostEnergyUJ[k]
//	Σ_p VMs[vm].ZonesByProvenance[p][z] = VMs[vm].Zones[z]   (usage, idle)
//
// so that energy measured before a restart on an estimating meter stays
// measured. Forget drops a VM's by-provenance counters with the VM (the
// forgotten energy is one total).
//
// Pending is not in the state file: a state saved while energy is pending
// would hold host counters that include it without it anywhere else, so
// callers save only when HasPending is false (SaveFinal) or right after a
// split. The ledger does no I/O and keeps no clock.
package ledger

import (
	"fmt"
	"maps"
	"strconv"
	"strings"

	"github.com/virtwatt/virtwatt/hostagent/attribution"
	"github.com/virtwatt/virtwatt/hostagent/meter"
	"github.com/virtwatt/virtwatt/hostagent/state"
	"github.com/virtwatt/virtwatt/share"
)

// Ledger books energy into a state. It is not safe for concurrent use.
type Ledger struct {
	st      *state.State
	zones   []string          // counted zones
	pending map[string]uint64 // counted zone → µJ measured, not split yet
	emb     embodied
	price   pricing
	prov    string // provenance key the energy is booked under (state.ProvenanceKey)
}

// New books into st (its counters are taken as they are) for the counted
// zones. Nothing is pending.
func New(st *state.State, zones []string) *Ledger {
	return &Ledger{st: st, zones: zones, pending: make(map[string]uint64, len(zones)),
		emb:  embodied{splitter: attribution.NewZoneSplitter(embodiedPolicy)},
		prov: state.ProvenanceKey(share.MethodMeasured, share.ModelRAPL)}
}

// SetProvenance books the energy of later ticks under method and model
// (share.Method*, share.Model*): how the meter obtains it.
func (l *Ledger) SetProvenance(method, model string) {
	l.prov = state.ProvenanceKey(method, model)
}

// HostKey is the state's key of a host zone: "kind/socket".
func HostKey(kind string, socket int) string { return kind + "/" + strconv.Itoa(socket) }

// SplitHostKey is HostKey's inverse (socket 0 for a key without a valid
// socket number).
func SplitHostKey(k string) (kind string, socket int) {
	kind, sock, _ := strings.Cut(k, "/")
	socket, _ = strconv.Atoi(sock)
	return kind, socket
}

// Measure books one tick's meter deltas: each into its zone's host counter
// and, for counted zones (meter.Counted), into pending.
func (l *Ledger) Measure(ds []meter.Delta) {
	byProv := l.st.HostEnergyByProvenanceUJ[l.prov]
	for _, d := range ds {
		k := HostKey(d.Kind, d.Socket)
		l.st.HostEnergyUJ[k] += d.DeltaUJ
		if d.DeltaUJ == 0 {
			continue
		}
		if byProv == nil {
			if l.st.HostEnergyByProvenanceUJ == nil {
				l.st.HostEnergyByProvenanceUJ = map[string]map[string]uint64{}
			}
			byProv = map[string]uint64{}
			l.st.HostEnergyByProvenanceUJ[l.prov] = byProv
		}
		byProv[k] += d.DeltaUJ
	}
	counted := meter.Counted(ds, l.zones)
	for _, z := range l.zones {
		l.pending[z] += counted[z]
	}
}

// Pending is zone z's energy measured but not split yet.
func (l *Ledger) Pending(z string) uint64 { return l.pending[z] }

// HasPending reports whether any energy waits for a split.
func (l *Ledger) HasPending() bool {
	for _, e := range l.pending {
		if e != 0 {
			return true
		}
	}
	return false
}

// Unattribute gives every zone's pending energy to the host: energy
// measured before there was any baseline to split it by.
func (l *Ledger) Unattribute() {
	for z, e := range l.pending {
		l.st.UnattributedUJ[z] += e
		l.pending[z] = 0
	}
}

// Split books res, the split of all of zone z's pending energy
// (attribution.Tick.EnergyUJ = Pending(z)): res.VMs[i] goes to vms[i] and
// the rest to the host. A result that does not add up to the pending
// energy (a splitter bug) is refused: the whole pending energy goes to
// the host, no VM gets any, and the error says by how much it was off.
func (l *Ledger) Split(z string, res attribution.Result, vms []*state.VM) error {
	e := l.pending[z]
	l.pending[z] = 0
	given, ok := sumShares(res, len(vms))
	if !ok || given > e || e-given != res.HostUJ {
		l.st.UnattributedUJ[z] += e
		return fmt.Errorf("ledger: split of zone %s gives %d µJ to %d VMs (of %d) and %d µJ to the host, not the %d µJ pending; all of it goes to the host",
			z, given, len(res.VMs), len(vms), res.HostUJ, e)
	}
	l.st.UnattributedUJ[z] += e - given
	for i, sh := range res.VMs {
		vm := vms[i]
		if vm.Zones == nil {
			vm.Zones = map[string]share.ZoneEnergy{}
		}
		ze := vm.Zones[z]
		ze.UsageUJ += sh.UsageUJ
		ze.IdleUJ += sh.IdleUJ
		vm.Zones[z] = ze
		l.bookProvenance(vm, z, sh)
		l.charge(vm, sh)
	}
	return nil
}

// bookProvenance adds sh to vm's counters of zone z under the provenance
// in force.
func (l *Ledger) bookProvenance(vm *state.VM, z string, sh attribution.Share) {
	if sh.UsageUJ == 0 && sh.IdleUJ == 0 {
		return
	}
	if vm.ZonesByProvenance == nil {
		vm.ZonesByProvenance = map[string]map[string]share.ZoneEnergy{}
	}
	m := vm.ZonesByProvenance[l.prov]
	if m == nil {
		m = map[string]share.ZoneEnergy{}
		vm.ZonesByProvenance[l.prov] = m
	}
	ze := m[z]
	ze.UsageUJ += sh.UsageUJ
	ze.IdleUJ += sh.IdleUJ
	m[z] = ze
}

// Forget drops the VM uuid from the state; its energy and embodied
// emissions move to the forgotten counters. It reports whether there was
// such a VM.
func (l *Ledger) Forget(uuid string) bool {
	vm, ok := l.st.VMs[uuid]
	if !ok {
		return false
	}
	if vm != nil {
		for z, e := range vm.Zones {
			l.st.ForgottenUJ[z] += e.TotalUJ()
		}
		if vm.EmbodiedUG != 0 {
			l.embodiedState().ForgottenUG += vm.EmbodiedUG
		}
		delete(l.price.carry, vm)
	}
	l.emb.splitter.Forget(uuid)
	delete(l.st.VMs, uuid)
	return true
}

// Rebase starts a new instance's count for vm: records publish energy
// and embodied emissions since Base and EmbodiedBaseUG, which become the
// VM's current counters. No counter changes.
func (l *Ledger) Rebase(vm *state.VM) {
	vm.Base = maps.Clone(vm.Zones)
	vm.EmbodiedBaseUG = vm.EmbodiedUG
}

// Vanished drops the rounding the ledger carries for uuid's embodied
// emissions, when the domain is no longer listed; its counters stay until
// Forget.
func (l *Ledger) Vanished(uuid string) { l.emb.splitter.Forget(uuid) }

// Totals is a copy of the host-wide counters, safe to keep and read
// from any goroutine.
type Totals struct {
	HostEnergyUJ map[string]uint64 // by HostKey, cumulative
	// HostEnergyByProvenanceUJ is HostEnergyUJ by provenance key
	// (state.ProvenanceKey), then by HostKey.
	HostEnergyByProvenanceUJ map[string]map[string]uint64
	UnattributedUJ           map[string]uint64 // by counted zone
	ForgottenUJ              map[string]uint64 // by counted zone
	PendingUJ                map[string]uint64 // by counted zone

	// Embodied emissions, µg CO2e: amortised so far = Σ VMs + host + forgotten.
	EmbodiedAmortisedUG, EmbodiedHostUG, EmbodiedForgottenUG uint64
}

// Totals returns the host-wide counters by value.
func (l *Ledger) Totals() Totals {
	t := Totals{
		HostEnergyUJ:   maps.Clone(l.st.HostEnergyUJ),
		UnattributedUJ: maps.Clone(l.st.UnattributedUJ),
		ForgottenUJ:    maps.Clone(l.st.ForgottenUJ),
		PendingUJ:      maps.Clone(l.pending),

		HostEnergyByProvenanceUJ: make(map[string]map[string]uint64, len(l.st.HostEnergyByProvenanceUJ)),

		EmbodiedAmortisedUG: l.st.Embodied.Amortised(),
	}
	for p, m := range l.st.HostEnergyByProvenanceUJ {
		t.HostEnergyByProvenanceUJ[p] = maps.Clone(m)
	}
	if e := l.st.Embodied; e != nil {
		t.EmbodiedHostUG, t.EmbodiedForgottenUG = e.HostUG, e.ForgottenUG
	}
	return t
}
