package account

import (
	"time"

	"github.com/virtwatt/virtwatt/guestagent/follow"
	"github.com/virtwatt/virtwatt/share"
)

type treeZone struct{ energy, maxRange uint64 }

// plausibleWrap reports whether a counter that went backwards can have
// wrapped once, adding d µJ over (at most) dt: d must be at most half of
// maxRange (a host samples well inside the wrap time) and imply at most
// MaxPlausibleWatts. A restart that resets the counter fails one or the
// other unless it came just before the counter's wrap point.
func plausibleWrap(d, maxRange uint64, dt time.Duration) bool {
	return d <= maxRange/2 && plausible(d, dt)
}

// observeTree accounts for a tree-only share (no record): counters wrap at
// their max range (a counter without a known max range, as Scaphandre's
// exporter writes it, never wraps: going backwards is a reset), power comes from the guest's clock between two observed
// changes, and there is no metadata, embodied share or host intensity.
func (a *Accountant) observeTree(now time.Time, t share.Tree) bool {
	a.meta = share.Record{}
	a.prices, _, _ = a.opts.Pricing.prices(nil, a.prices)
	a.prov = treeProvenance

	zones := map[string]treeZone{share.ZonePackage: {t.PackageUJ, t.PackageMaxUJ}}
	if t.HasDRAM {
		zones[share.ZoneDRAM] = treeZone{t.DRAMUJ, t.DRAMMaxUJ}
	}
	if a.mode != ModeTree {
		first := a.mode == "" && !a.estimated // after an estimate: a baseline only (see Estimated)
		a.estimated = false
		a.restart(ModeTree)
		if first {
			a.onlyTree = true
			a.log.Info("share found: it holds only the powercap tree; following its counters")
		}
		for zone, z := range zones {
			a.raw[zone], a.maxRange[zone] = z.energy, z.maxRange
			if first {
				a.add(zone, z.energy, 0, 0)
			}
		}
		if a.energy == nil {
			a.energy = map[string]uint64{}
		}
		a.lastChange, a.lastUpdate = now, now
		return true
	}

	changed, appeared, reset := false, false, false
	deltas := map[string]uint64{}
	span := now.Sub(a.lastChange)
	estimated := a.estimated
	a.estimated = false
	for zone, z := range zones {
		prev, seen := a.raw[zone]
		prevMax := a.maxRange[zone]
		a.raw[zone], a.maxRange[zone] = z.energy, z.maxRange
		switch {
		case estimated:
			// The time since the last reading was estimated (see
			// Estimated): a baseline, not energy; power unknown.
			reset, changed = true, true
			continue
		case !seen:
			a.add(zone, z.energy, 0, 0)
			appeared = true
			continue
		case z.energy >= prev && !plausible(z.energy-prev, span):
			// More than a VM can use since the last change: a bad
			// sample, and the new value is the baseline.
			a.badSample(zone, z.energy-prev, span)
			reset, changed = true, true
			continue
		case z.energy >= prev:
			deltas[zone] = z.energy - prev
		case prevMax > 0 && prevMax >= prev && plausibleWrap(prevMax-prev+z.energy, prevMax, now.Sub(a.lastChange)):
			// Wrapped once: up to the old range, then from 0.
			deltas[zone] = prevMax - prev + z.energy
		default:
			// No max range known (Scaphandre's counters are u64 that
			// never wrap), or a wrap would mean more than half the range
			// or an implausible power: the counter was reset (the host
			// restarted), and the new value is the baseline, not energy.
			a.errors[follow.ReasonReset]++
			a.warnOnce("tree-reset", "tree counter went backwards and cannot have wrapped: a reset, starting a new baseline for the zone",
				"zone", zone, "previous_uj", prev, "now_uj", z.energy, "max_range_uj", prevMax)
			reset, changed = true, true
			continue
		}
		if deltas[zone] != 0 {
			changed = true
		}
		a.add(zone, deltas[zone], 0, 0)
	}
	if !changed && !appeared {
		return a.fresh(now)
	}
	dt := now.Sub(a.lastChange)
	a.power = nil
	if reset {
		// Power is unknown for the step of a reset.
		a.lastChange, a.lastUpdate = now, now
		return true
	}
	if !changed {
		// Only a zone appeared (a tree read between two of its files):
		// not a reading of the time between two host writes.
		a.lastUpdate = now
		return true
	}
	if a.changeSeen && dt > 0 {
		a.interval = dt
		a.power = map[string]float64{}
		for zone, d := range deltas {
			a.power[zone] = float64(d) / 1e6 / dt.Seconds()
		}
	}
	a.changeSeen = true
	a.lastChange, a.lastUpdate = now, now
	return true
}
