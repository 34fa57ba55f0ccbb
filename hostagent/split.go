package hostagent

import (
	"time"

	"github.com/virtwatt/virtwatt/hostagent/attribution"
	"github.com/virtwatt/virtwatt/hostagent/domain"
	"github.com/virtwatt/virtwatt/hostagent/state"
	"github.com/virtwatt/virtwatt/internal/procstat"
	"github.com/virtwatt/virtwatt/internal/saturate"
)

// tickBuffers are reused from tick to tick to keep the hot path free of
// allocations proportional to the number of domains.
type tickBuffers struct {
	vms   []attribution.VM
	keys  []string
	vcpuD []uint64
	cpuD  []uint64
	raw   map[string]rawTimes
	// The UUIDs of the last split's domains and their raw times, by
	// index: while a tick lists the same UUIDs in the same order (and
	// they are all of split.raw's keys), rawVals[i] is
	// split.raw[rawKeys[i]], so the split reads and updates them without
	// rebuilding the map.
	rawKeys []string
	rawVals []rawTimes
	power   map[string]map[string]float64 // uuid → zone → W over the last split
	pw      []map[string]float64          // power[doms[i].UUID], looked up once per tick
	share   map[string]float64            // uuid → CPU share of capacity
	states  []*state.VM                   // the state of doms[i], looked up once per tick
	static  map[string]uint64             // zone → the curve's static energy of this split
}

// sameRaw reports whether doms lists exactly rawKeys, in order, and they
// are all of split.raw's n keys (so none vanished and none repeats).
func (b *tickBuffers) sameRaw(doms []domain.Domain, n int) bool {
	if len(doms) == 0 || len(doms) != len(b.rawKeys) || n != len(doms) || len(b.rawVals) != n {
		return false
	}
	for i := range doms {
		if doms[i].UUID != b.rawKeys[i] {
			return false
		}
	}
	return true
}

// counterDelta is the growth of a domain's cumulative CPU counter over a
// split in which it cannot grow by more than limit ns. It returns the delta
// and the raw value to compare with next time.
//   - 0 means "not reported" (a stopped domain, a stat libvirt left out
//     this time): no delta, and the previous raw value is kept.
//   - A domain first seen after the baseline, or a counter that went down
//     (its qemu process restarted), counts from 0 — when that fits in the
//     interval; otherwise the value is only a new baseline.
//   - Growth beyond limit cannot be real (a vCPU unplugged and another
//     counted, a stat that skipped): new baseline, no delta.
func counterDelta(cur, prev uint64, seen bool, limit uint64) (d, keep uint64) {
	switch {
	case cur == 0:
		return 0, prev
	case !seen || cur < prev:
		if cur <= limit {
			return cur, cur
		}
		return 0, cur
	case cur-prev > limit:
		return 0, cur
	}
	return cur - prev, cur
}

// slackNS covers counters read at slightly different instants.
const slackNS = uint64(100 * time.Millisecond)

// splitTick splits the energy pending since the last split across doms.
// The first call only takes baselines.
func (a *Agent) splitTick(now time.Time, cpu procstat.CPU, doms []domain.Domain) {
	b := &a.tickBuf
	if b.raw == nil {
		b.raw = map[string]rawTimes{}
		b.power = map[string]map[string]float64{}
		b.share = map[string]float64{}
	}
	b.states, b.pw = b.states[:0], b.pw[:0]
	for i := range doms {
		b.states = append(b.states, a.vmState(&doms[i]))
		b.pw = append(b.pw, b.power[doms[i].UUID])
	}
	if !a.split.ok {
		a.split.ok = true
		a.split.time, a.split.cpu = now, cpu
		a.ledger.Unattribute() // measured before any baseline: nobody to give it to
		for i := range doms {
			d := &doms[i]
			b.states[i].LastSeen = now
			a.split.raw[d.UUID] = rawTimes{vcpu: d.VCPUTimeNS, cpu: d.CPUTimeNS}
		}
		return
	}

	elapsed := now.Sub(a.split.time)
	if elapsed < 0 {
		elapsed = 0
	}
	capacity := uint64(elapsed.Nanoseconds()) * uint64(max(cpu.CPUs, 1))
	var busy uint64
	if cpu.BusyNS > a.split.cpu.BusyNS {
		busy = cpu.BusyNS - a.split.cpu.BusyNS
	}
	busy = min(busy, capacity)

	b.vms, b.keys, b.vcpuD, b.cpuD = b.vms[:0], b.keys[:0], b.vcpuD[:0], b.cpuD[:0]
	same := b.sameRaw(doms, len(a.split.raw))
	if !same {
		clear(b.raw)
		b.rawVals = b.rawVals[:0]
	}
	for i := range doms {
		d := &doms[i]
		var prev rawTimes
		seen := true
		if same {
			prev = b.rawVals[i]
		} else {
			prev, seen = a.split.raw[d.UUID]
		}
		el := uint64(elapsed.Nanoseconds())
		dv, keepV := counterDelta(d.VCPUTimeNS, prev.vcpu, seen, el*uint64(max(d.VCPUs, 1))+el/4+slackNS)
		dc, keepC := counterDelta(d.CPUTimeNS, prev.cpu, seen, capacity+slackNS)
		var overhead uint64
		if dc > dv {
			overhead = dc - dv
		}
		vcpus := 0
		if d.State == domain.StateRunning {
			vcpus = d.VCPUs
		}
		b.vms = append(b.vms, attribution.VM{VCPUTimeNS: dv, OverheadNS: overhead, VCPUs: vcpus})
		b.keys = append(b.keys, d.UUID)
		b.vcpuD = append(b.vcpuD, dv)
		b.cpuD = append(b.cpuD, dv+overhead)
		keep := rawTimes{vcpu: keepV, cpu: keepC}
		if same {
			a.split.raw[d.UUID] = keep // a key already there
			b.rawVals[i] = keep
		} else {
			b.raw[d.UUID] = keep
			b.rawVals = append(b.rawVals, keep)
		}
	}
	if !same {
		for uuid := range a.split.raw {
			if _, ok := b.raw[uuid]; !ok {
				for _, s := range a.splitters {
					s.Forget(uuid)
				}
				a.ledger.Vanished(uuid)
				delete(b.power, uuid)
				delete(b.share, uuid)
			}
		}
		// swap the raw maps so the next tick compares with this one
		a.split.raw, b.raw = b.raw, a.split.raw
		clear(b.rawKeys) // drop the references to the last tick's strings
		b.rawKeys = append(b.rawKeys[:0], b.keys...)
	}

	secs := elapsed.Seconds()
	a.priceTick()
	if b.static == nil {
		b.static = map[string]uint64{}
	}
	model := a.curveSplit(uint64(elapsed.Nanoseconds()), busy, cpu.CPUs, b.static)
	a.site.IdleModel = a.curves.used
	for _, z := range a.cfg.Zones {
		res := a.splitters[z].Split(attribution.Tick{
			EnergyUJ:   a.ledger.Pending(z),
			CapacityNS: capacity,
			BusyNS:     busy,
			HostCPUs:   cpu.CPUs,
			VMs:        b.vms,
			Model:      model,
			StaticUJ:   b.static[z],
		}, b.keys)
		if err := a.ledger.Split(z, res, b.states); err != nil {
			a.log.Error("split refused", "err", err)
			continue
		}
		if secs <= 0 {
			continue
		}
		for i, sh := range res.VMs {
			pw := b.pw[i]
			if pw == nil {
				uuid := doms[i].UUID
				if pw = b.power[uuid]; pw == nil {
					pw = map[string]float64{}
					b.power[uuid] = pw
				}
				b.pw[i] = pw
			}
			pw[z] = float64(sh.TotalUJ()) / 1e6 / secs
		}
	}
	a.embodyTick(elapsed, cpu.CPUs)
	for i := range doms {
		d := &doms[i]
		vm := b.states[i]
		// Cumulative CPU time saturates rather than wraps (a 256-vCPU VM
		// passes 2^64 ns in about 2.3 years): it must never go back.
		vm.VCPUTimeNS, _ = saturate.Add(vm.VCPUTimeNS, b.vcpuD[i])
		vm.CPUTimeNS, _ = saturate.Add(vm.CPUTimeNS, b.cpuD[i])
		vm.LastSeen = now
		if capacity > 0 {
			b.share[d.UUID] = float64(b.cpuD[i]) / float64(capacity)
		}
	}
	a.split.time, a.split.cpu = now, cpu
}
