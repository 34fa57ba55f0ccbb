package ledger

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/hostagent/attribution"
	"github.com/virtwatt/virtwatt/hostagent/meter"
	"github.com/virtwatt/virtwatt/hostagent/state"
	"github.com/virtwatt/virtwatt/share"
)

var zones = []string{meter.KindPackage, meter.KindDRAM}

// world is one random run: the ledger under test, the real splitters, and
// what was measured, kept apart from the ledger.
type world struct {
	t         *testing.T
	r         *rand.Rand
	st        *state.State
	l         *Ledger
	splitters map[string]*attribution.ZoneSplitter
	measured  map[string]uint64 // counted zone → Σ deltas given to Measure

	saved         []byte            // the last state saved (never while pending)
	savedMeasured map[string]uint64 // measured when it was saved

	// embodied, kept apart from the ledger: the current epoch's figures
	// and time, and what earlier epochs amortised (by big.Int arithmetic)
	emb, savedEmb embodiedModel
	// emissions each VM should have, Σ delta × price of its tick, from the
	// counters it had at the last restart
	wantDyn, wantIdle map[string]float64
	price             float64         // µg per µJ in force
	idleOnly          map[string]bool // VMs that never had a vCPU allocated

	// by provenance, kept apart: the key in force, host energy by
	// provenance and HostKey, VMs' energy by VM, provenance and zone
	prov                string
	hostProv, savedHost map[string]map[string]uint64
	vmProv, savedVMProv map[string]map[string]map[string]share.ZoneEnergy
}

var provenances = [][2]string{{share.MethodMeasured, share.ModelRAPL}, {share.MethodEstimated, share.ModelTDP}, {share.MethodEstimated, share.ModelDemo}}

// setProvenance picks the meter of this (re)start, as meter=auto does
// when RAPL becomes unreadable or readable again.
func (w *world) setProvenance() {
	p := provenances[w.r.IntN(len(provenances))]
	w.l.SetProvenance(p[0], p[1])
	w.prov = state.ProvenanceKey(p[0], p[1])
}

func cloneHostProv(m map[string]map[string]uint64) map[string]map[string]uint64 {
	c := map[string]map[string]uint64{}
	for p, v := range m {
		c[p] = maps.Clone(v)
	}
	return c
}

func cloneVMProv(m map[string]map[string]map[string]share.ZoneEnergy) map[string]map[string]map[string]share.ZoneEnergy {
	c := map[string]map[string]map[string]share.ZoneEnergy{}
	for u, byProv := range m {
		c[u] = map[string]map[string]share.ZoneEnergy{}
		for p, v := range byProv {
			c[u][p] = maps.Clone(v)
		}
	}
	return c
}

type embodiedModel struct{ total, life, elapsed, base uint64 }

// amortised is base + total × min(elapsed, life) / life (no more than
// the total once the lifetime is over), computed with math/big.
func (m embodiedModel) amortised() uint64 {
	if m.life == 0 {
		return m.base
	}
	x := new(big.Int).Mul(new(big.Int).SetUint64(m.total), new(big.Int).SetUint64(min(m.elapsed, m.life)))
	x.Quo(x, new(big.Int).SetUint64(m.life))
	x.Add(x, new(big.Int).SetUint64(m.base))
	if x.Cmp(new(big.Int).SetUint64(state.MaxCounterUG)) > 0 {
		return state.MaxCounterUG // where the ledger saturates
	}
	return x.Uint64()
}

func newWorld(t *testing.T, seed uint64) *world {
	w := &world{
		t: t, r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		st: state.New(), measured: map[string]uint64{}, splitters: map[string]*attribution.ZoneSplitter{},
		wantDyn: map[string]float64{}, wantIdle: map[string]float64{}, idleOnly: map[string]bool{},
		hostProv: map[string]map[string]uint64{}, vmProv: map[string]map[string]map[string]share.ZoneEnergy{},
	}
	w.l = New(w.st, zones)
	w.setProvenance()
	w.setEmbodied()
	for _, z := range zones {
		w.splitters[z] = attribution.NewZoneSplitter(attribution.DefaultPolicy())
	}
	w.save()
	return w
}

// setEmbodied gives the ledger new figures (a server of up to 5 t CO2e
// over up to 8 years, sometimes none, sometimes absurd), as a restart
// with another configuration does.
func (w *world) setEmbodied() {
	total, life := w.r.Uint64N(5e15), 1+w.r.Uint64N(8*365*24*3600*1e9)
	switch w.r.IntN(8) {
	case 0:
		total = 0
	case 1:
		total, life = 1<<62, 1+w.r.Uint64N(1000)
	}
	w.l.SetEmbodied(total, life)
	if total != w.emb.total || life != w.emb.life {
		w.emb = embodiedModel{total: total, life: life, base: min(w.emb.amortised(), state.MaxCounterUG)}
	}
}

func (w *world) uuid() string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", w.r.IntN(8)) }

// energy is small most of the time, sometimes large, sometimes 0.
func (w *world) energy() uint64 {
	switch w.r.IntN(6) {
	case 0:
		return 0
	case 1:
		return w.r.Uint64N(1 << 40)
	}
	return w.r.Uint64N(5_000_000)
}

func (w *world) measure() {
	var ds []meter.Delta
	for _, k := range []string{meter.KindPackage, meter.KindCore, meter.KindDRAM, meter.KindUncore} {
		for s := range 2 {
			if w.r.IntN(5) == 0 {
				continue // a zone missing this tick
			}
			d := meter.Delta{Kind: k, Socket: s, DeltaUJ: w.energy()}
			ds = append(ds, d)
			if d.DeltaUJ != 0 {
				if w.hostProv[w.prov] == nil {
					w.hostProv[w.prov] = map[string]uint64{}
				}
				w.hostProv[w.prov][HostKey(k, s)] += d.DeltaUJ
			}
			if k == meter.KindPackage || k == meter.KindDRAM {
				w.measured[k] += d.DeltaUJ
			}
		}
	}
	w.l.Measure(ds)
}

func (w *world) split() {
	n := w.r.IntN(6)
	seen := map[string]bool{}
	var keys []string
	var vms []*state.VM
	var avms []attribution.VM
	for range n {
		u := w.uuid()
		if seen[u] {
			continue
		}
		seen[u] = true
		vm := w.st.VMs[u]
		if vm == nil {
			vm = &state.VM{Instance: "0123456789abcdef", Zones: map[string]share.ZoneEnergy{}}
			w.st.VMs[u] = vm
		}
		keys = append(keys, u)
		vms = append(vms, vm)
		avms = append(avms, attribution.VM{VCPUTimeNS: w.r.Uint64N(4e9), OverheadNS: w.r.Uint64N(1e8), VCPUs: w.r.IntN(5)})
	}
	capacity := uint64(1+w.r.IntN(5)) * 8e9
	w.l.SetPrice(1+w.r.Float64(), w.r.Float64()*800)
	w.price = (w.l.price.perUJ)
	for _, z := range zones {
		tick := attribution.Tick{
			EnergyUJ: w.l.Pending(z), CapacityNS: capacity, BusyNS: w.r.Uint64N(capacity + 1), HostCPUs: 8, VMs: avms,
		}
		if w.r.IntN(2) == 0 { // the power-curve split: a static part below, at or above E
			tick.Model, tick.StaticUJ = attribution.ModelCurve, w.r.Uint64N(2*tick.EnergyUJ+1)
		}
		res := w.splitters[z].Split(tick, keys)
		if err := w.l.Split(z, res, vms); err != nil {
			w.t.Fatalf("a real splitter's result was refused: %v", err)
		}
		for i, sh := range res.VMs {
			if sh.UsageUJ != 0 || sh.IdleUJ != 0 {
				if w.vmProv[keys[i]] == nil {
					w.vmProv[keys[i]] = map[string]map[string]share.ZoneEnergy{}
				}
				if w.vmProv[keys[i]][w.prov] == nil {
					w.vmProv[keys[i]][w.prov] = map[string]share.ZoneEnergy{}
				}
				ze := w.vmProv[keys[i]][w.prov][z]
				ze.UsageUJ += sh.UsageUJ
				ze.IdleUJ += sh.IdleUJ
				w.vmProv[keys[i]][w.prov][z] = ze
			}
			w.wantDyn[keys[i]] += float64(sh.UsageUJ) * w.price
			w.wantIdle[keys[i]] += float64(sh.IdleUJ) * w.price
		}
	}
	for i, u := range keys {
		if _, ok := w.idleOnly[u]; !ok {
			w.idleOnly[u] = true
		}
		if avms[i].VCPUs > 0 {
			w.idleOnly[u] = false
		}
	}
	elapsed := time.Duration(w.r.Int64N(int64(10 * time.Second)))
	if w.r.IntN(10) == 0 {
		elapsed = time.Duration(w.r.Int64N(int64(30 * 24 * time.Hour))) // a long outage
	}
	if err := w.l.Embody(elapsed, 8, avms, keys, vms); err != nil {
		w.t.Fatalf("a real splitter's embodied result was refused: %v", err)
	}
	if elapsed > 0 && w.emb.life != 0 {
		w.emb.elapsed += uint64(elapsed)
	}
	w.save()
}

// badSplit hands the ledger a result that does not add up: it must refuse
// it and give everything pending to the host.
func (w *world) badSplit() {
	u := w.uuid()
	vm := w.st.VMs[u]
	if vm == nil {
		return
	}
	z := zones[w.r.IntN(len(zones))]
	p := w.l.Pending(z)
	before := vm.Zones[z]
	res := attribution.Result{VMs: []attribution.Share{{UsageUJ: p + 1}}}
	if w.r.IntN(2) == 0 {
		res = attribution.Result{VMs: []attribution.Share{{UsageUJ: p / 2}}, HostUJ: p/2 + 7}
	}
	if err := w.l.Split(z, res, []*state.VM{vm}); err == nil {
		w.t.Fatalf("split giving %+v of %d pending accepted", res, p)
	}
	if vm.Zones[z] != before {
		w.t.Fatalf("a refused split changed a VM: %+v → %+v", before, vm.Zones[z])
	}
}

func (w *world) forget() {
	u := w.uuid()
	had := w.st.VMs[u] != nil
	if got := w.l.Forget(u); got != had {
		w.t.Fatalf("Forget(%s) = %v, the state had it: %v", u, got, had)
	}
	for _, s := range w.splitters {
		s.Forget(u)
	}
	delete(w.wantDyn, u)
	delete(w.vmProv, u)
	delete(w.wantIdle, u)
	delete(w.idleOnly, u)
}

// save is what the agent does after a split; the file format is the state's.
func (w *world) save() {
	if w.l.HasPending() {
		return
	}
	b, err := json.Marshal(w.st)
	if err != nil {
		w.t.Fatal(err)
	}
	w.saved, w.savedMeasured, w.savedEmb = b, maps.Clone(w.measured), w.emb
	w.savedHost, w.savedVMProv = cloneHostProv(w.hostProv), cloneVMProv(w.vmProv)
}

// restart loads the last saved state, as after a crash: what was measured
// since (pending included) is lost on both sides of the invariant.
func (w *world) restart() {
	st, err := state.Parse(w.saved)
	if err != nil {
		w.t.Fatalf("saved state does not load: %v", err)
	}
	w.st, w.measured, w.emb = st, maps.Clone(w.savedMeasured), w.savedEmb
	w.l = New(st, zones)
	w.setProvenance() // perhaps another meter
	w.hostProv, w.vmProv = cloneHostProv(w.savedHost), cloneVMProv(w.savedVMProv)
	clear(w.wantDyn)
	clear(w.wantIdle)
	clear(w.idleOnly)
	for u, vm := range st.VMs {
		w.wantDyn[u], w.wantIdle[u] = float64(vm.Emissions.DynamicUG), float64(vm.Emissions.IdleUG)
		w.idleOnly[u] = vm.EmbodiedUG == 0
	}
	if w.r.IntN(2) == 0 {
		w.setEmbodied() // another configuration
	} else {
		e := st.Embodied
		if e == nil {
			e = &state.Embodied{}
		}
		if w.l.SetEmbodied(e.TotalUG, e.LifetimeNS) {
			w.t.Fatal("SetEmbodied with the state's own figures started a new epoch")
		}
	}
	for _, z := range zones {
		w.splitters[z] = attribution.NewZoneSplitter(attribution.DefaultPolicy())
	}
}

func (w *world) check(op string, i int) {
	t := w.l.Totals()
	for _, z := range zones {
		if got, want := booked(w.l, z), w.measured[z]; got != want {
			w.t.Fatalf("op %d (%s), zone %s: Σ VMs + unattributed + forgotten + pending = %d µJ, measured %d (off by %d)",
				i, op, z, got, want, int64(got-want))
		}
		var host uint64
		for s := range 2 {
			host += t.HostEnergyUJ[HostKey(z, s)]
		}
		if host != w.measured[z] {
			w.t.Fatalf("op %d (%s), zone %s: host counters %d µJ, measured %d", i, op, z, host, w.measured[z])
		}
		// by value: changing the copy changes nothing booked
		t.PendingUJ[z]++
		t.UnattributedUJ[z]++
		if booked(w.l, z) != w.measured[z] {
			w.t.Fatalf("op %d (%s): Totals shares its maps with the ledger", i, op)
		}
	}

	for p, m := range w.hostProv {
		for k, v := range m {
			if got := t.HostEnergyByProvenanceUJ[p][k]; got != v {
				w.t.Fatalf("op %d (%s): host energy %s by %s is %d µJ, measured under it %d", i, op, k, p, got, v)
			}
		}
	}
	var vms uint64
	for u, vm := range w.st.VMs {
		for p, m := range w.vmProv[u] {
			for z, e := range m {
				if got := vm.ZonesByProvenance[p][z]; got != e {
					w.t.Fatalf("op %d (%s): VM %s zone %s by %s is %+v, split under it %+v", i, op, u, z, p, got, e)
				}
			}
		}
		vms += vm.EmbodiedUG
		if w.idleOnly[u] && vm.EmbodiedUG != 0 {
			w.t.Fatalf("op %d (%s): VM %s never had a vCPU allocated but was charged %d µg embodied", i, op, u, vm.EmbodiedUG)
		}
		for _, c := range []struct {
			part      string
			got, want float64
		}{{"dynamic", float64(vm.Emissions.DynamicUG), w.wantDyn[u]}, {"idle", float64(vm.Emissions.IdleUG), w.wantIdle[u]}} {
			if d := c.want - c.got; d < -1e-9*c.want || d >= 1+1e-9*c.want {
				w.t.Fatalf("op %d (%s): VM %s %s emissions %v µg, Σ energy × price of its tick %v µg", i, op, u, c.part, c.got, c.want)
			}
		}
	}
	want := w.emb.amortised()
	if got := vms + t.EmbodiedHostUG + t.EmbodiedForgottenUG; got != want || t.EmbodiedAmortisedUG != want {
		w.t.Fatalf("op %d (%s): Σ VMs embodied %d + host %d + forgotten %d = %d µg, ledger's amortised %d, amortised %d (off by %d)",
			i, op, vms, t.EmbodiedHostUG, t.EmbodiedForgottenUG, got, t.EmbodiedAmortisedUG, want, int64(got-want))
	}
	if err := w.st.Validate(); err != nil {
		w.t.Fatalf("op %d (%s): the ledger's state does not validate: %v", i, op, err)
	}
}

// TestConservation runs random sequences of measure, split (with embodied
// emissions and a new price each time), forget, outage (measures with no
// split), unattribute, refused splits and restarts (sometimes with other
// embodied figures, on a random meter's provenance), and checks the invariants of the package doc after
// every op: energy to the µJ, embodied to the µg (against an amortised
// total computed apart, with math/big), emissions by part within 1 µg of
// Σ energy × price of its tick, energy by provenance to the µJ
// against what was booked under each (Σ = the totals: Validate).
func TestConservation(t *testing.T) {
	for seed := range uint64(50) {
		w := newWorld(t, seed)
		for i := range 200 {
			var op string
			switch k := w.r.IntN(20); {
			case k < 7:
				op = "measure"
				w.measure()
			case k < 13:
				op = "split"
				w.split()
			case k < 15:
				op = "forget"
				w.forget()
			case k < 16:
				op = "outage"
				for range 1 + w.r.IntN(5) {
					w.measure()
				}
			case k < 17:
				op = "unattribute"
				w.l.Unattribute()
				if w.l.HasPending() {
					t.Fatalf("op %d: pending after Unattribute: %v", i, w.l.Totals().PendingUJ)
				}
				w.save()
			case k < 18:
				op = "bad split"
				w.badSplit()
			default:
				op = "restart"
				w.restart()
			}
			w.check(op, i)
		}
	}
}

// TestSplitMovesAllPending: after a split nothing is pending and the VMs
// got exactly what the result says.
func TestSplitMovesAllPending(t *testing.T) {
	st := state.New()
	l := New(st, zones)
	l.Measure([]meter.Delta{{Kind: meter.KindPackage, DeltaUJ: 1000}, {Kind: meter.KindDRAM, Socket: 1, DeltaUJ: 300}})
	a, b := &state.VM{}, &state.VM{Zones: map[string]share.ZoneEnergy{}}
	if err := l.Split(meter.KindPackage, attribution.Result{VMs: []attribution.Share{{UsageUJ: 400, IdleUJ: 100}, {UsageUJ: 200}}, HostUJ: 300}, []*state.VM{a, b}); err != nil {
		t.Fatal(err)
	}
	if a.Zones[meter.KindPackage] != (share.ZoneEnergy{UsageUJ: 400, IdleUJ: 100}) || b.Zones[meter.KindPackage].UsageUJ != 200 {
		t.Fatalf("VMs got %+v and %+v", a.Zones, b.Zones)
	}
	if got := st.UnattributedUJ[meter.KindPackage]; got != 300 {
		t.Fatalf("unattributed %d, want 300", got)
	}
	if l.Pending(meter.KindPackage) != 0 || l.Pending(meter.KindDRAM) != 300 || !l.HasPending() {
		t.Fatalf("pending %v", l.Totals().PendingUJ)
	}
	if l.Forget("nobody") {
		t.Fatal("Forget of an unknown VM reported one")
	}
}

// booked is zone z's right-hand side of the invariant as l holds it:
// Σ VMs + unattributed + forgotten + pending.
func booked(l *Ledger, z string) uint64 {
	sum := l.st.UnattributedUJ[z] + l.st.ForgottenUJ[z] + l.pending[z]
	for _, vm := range l.st.VMs {
		if vm != nil {
			sum += vm.Zones[z].TotalUJ()
		}
	}
	return sum
}
