package hostagent

import (
	"time"

	"github.com/virtwatt/virtwatt/hostagent/domain"
	"github.com/virtwatt/virtwatt/hostagent/state"
	"github.com/virtwatt/virtwatt/share"
)

// hoursPerYear is the Julian year, as used for amortizing embodied emissions.
const hoursPerYear = 8766

// dirTracker remembers which share directories exist and when each
// domain was last listed, for creating and pruning them.
type dirTracker struct {
	ensured   map[string]bool         // directories created by this process
	lastState map[string]domain.State // by UUID: the state last written
	lastPrune time.Time
	names     map[string]struct{} // reused: names listed this tick
}

func (t *dirTracker) init(st *state.State) {
	t.ensured = map[string]bool{}
	t.lastState = map[string]domain.State{}
	t.names = map[string]struct{}{}
}

// writeShares writes the record and tree of every running or paused domain
// each tick, and of any other domain when it is first seen or changes state
// (its guest is not running, so nobody waits for it).
func (a *Agent) writeShares(now time.Time, doms []domain.Domain) {
	if a.writer == nil {
		return
	}
	embodiedTotal := 0.0
	if a.cfg.EmbodiedKgCO2e > 0 && a.cfg.LifetimeYears > 0 {
		embodiedTotal = a.cfg.EmbodiedKgCO2e * 1000 / (a.cfg.LifetimeYears * hoursPerYear)
	}
	var allocated int
	for i := range doms {
		if doms[i].State == domain.StateRunning {
			allocated += doms[i].VCPUs
		}
	}
	denom := max(allocated, a.split.cpu.CPUs, 1)
	hasDRAM := false
	for _, z := range a.cfg.Zones {
		if z == share.ZoneDRAM {
			hasDRAM = true
		}
	}
	for i := range doms {
		d := &doms[i]
		if err := share.ValidName(d.Name); err != nil {
			a.fail("share", err)
			continue
		}
		if !a.dirs.ensured[d.Name] {
			if err := a.writer.EnsureDir(d.Name); err != nil {
				a.fail("share", err)
				continue
			}
			a.dirs.ensured[d.Name] = true
		}
		active := d.State == domain.StateRunning || d.State == domain.StatePaused
		if last, ok := a.dirs.lastState[d.UUID]; !active && ok && last == d.State {
			continue
		}
		vm := a.vmState(d)
		vm.Sequence++
		rec := share.Record{
			Schema:                share.SchemaVersion,
			Host:                  a.cfg.HostName,
			Domain:                d.Name,
			UUID:                  d.UUID,
			Instance:              vm.Instance,
			Sequence:              vm.Sequence,
			Timestamp:             now,
			IntervalSeconds:       a.cfg.Interval.Seconds(),
			Zones:                 make(map[string]share.ZoneEnergy, len(a.cfg.Zones)),
			VCPUs:                 d.VCPUs,
			VCPUTimeNS:            vm.VCPUTimeNS,
			CPUTimeNS:             vm.CPUTimeNS,
			PUE:                   a.cfg.PUE,
			WUE:                   a.cfg.WUE,
			CarbonIntensity:       a.cfg.CarbonIntensity,
			CarbonIntensitySource: a.cfg.CarbonIntensitySource,
			Labels:                d.Labels,
		}
		if a.cfg.CarbonIntensity > 0 && rec.CarbonIntensitySource == "" {
			rec.CarbonIntensitySource = "host"
		}
		for _, z := range a.cfg.Zones {
			rec.Zones[zoneInShare(z)] = vm.Zones[z]
		}
		if embodiedTotal > 0 && d.State == domain.StateRunning {
			rec.EmbodiedGramsPerHour = embodiedTotal * float64(d.VCPUs) / float64(denom)
			rec.EmbodiedSource = "host: embodied_kgco2e over lifetime_years, by allocated vCPUs"
		}
		if err := a.writer.Write(d.Name, &rec, hasDRAM); err != nil {
			vm.Sequence-- // not written: the next write reuses the number
			a.fail("share", err)
			continue
		}
		a.dirs.lastState[d.UUID] = d.State
	}
}

// zoneInShare maps a counted zone to the record's zone: psys, the whole
// platform, is published as the package zone so guests see one total.
func zoneInShare(z string) string {
	if z == "psys" {
		return share.ZonePackage
	}
	return z
}

// prune removes the share directories of domains not listed for longer than
// PruneAfter. It looks at most once a minute.
func (a *Agent) prune(now time.Time, doms []domain.Domain) {
	clear(a.dirs.names)
	for i := range doms {
		a.dirs.names[doms[i].Name] = struct{}{}
		a.st.Dirs[doms[i].Name] = now
	}
	for uuid := range a.dirs.lastState {
		if _, ok := a.split.raw[uuid]; !ok {
			delete(a.dirs.lastState, uuid)
		}
	}
	if a.writer == nil || now.Sub(a.dirs.lastPrune) < time.Minute {
		return
	}
	a.dirs.lastPrune = now
	existing, err := a.writer.List()
	if err != nil {
		a.fail("prune", err)
		return
	}
	for _, name := range existing {
		if _, ok := a.dirs.names[name]; ok {
			continue
		}
		seen, ok := a.st.Dirs[name]
		if !ok {
			a.st.Dirs[name] = now // found on disk: start its clock now
			continue
		}
		if now.Sub(seen) < a.cfg.PruneAfter {
			continue
		}
		if err := a.writer.Remove(name); err != nil {
			a.fail("prune", err)
			continue
		}
		delete(a.st.Dirs, name)
		delete(a.dirs.ensured, name)
		a.log.Info("pruned share directory of a vanished domain", "domain", name, "last_seen", seen)
	}
	for uuid, vm := range a.st.VMs {
		if _, ok := a.split.raw[uuid]; !ok && now.Sub(vm.LastSeen) >= a.cfg.PruneAfter && !vm.LastSeen.IsZero() {
			// The host keeps the energy of a VM it no longer tracks, so
			// that Σ VMs + host share = measured energy still holds.
			for z, e := range vm.Zones {
				a.st.UnattributedUJ[z] += e.TotalUJ()
			}
			delete(a.st.VMs, uuid)
			a.log.Info("forgot the counters of a vanished domain", "domain", vm.Name, "uuid", uuid, "last_seen", vm.LastSeen)
		}
	}
}
