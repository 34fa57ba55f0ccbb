package meter

import "time"

// Delta is the energy one zone used since the previous Update, wrap-corrected.
type Delta struct {
	Kind    string
	Socket  int
	DeltaUJ uint64
	// Reset says the counter was reset rather than advanced: it went back
	// with no usable range, or it advanced (wrap included) faster than the
	// zone can draw. DeltaUJ is then 0 and the reading is the new baseline.
	Reset bool
	// DiscardedUJ is what a reset counter would have given as a plain
	// increase or a wrap (0 when there was none), for the log.
	DiscardedUJ uint64
}

type zoneKey struct {
	kind   string
	socket int
}

type zoneState struct {
	last uint64
	gen  uint64
}

// PlausibilitySlack is added to the elapsed time before a delta is judged:
// the timestamps bracket the counter reads only roughly (the process may be
// descheduled between taking the time and reading the counters), so a delta
// may cover up to this much more time than elapsed says. It is small next to
// what a reset read as a wrap looks like (most of a counter's range, often
// 262 kJ, in seconds).
const PlausibilitySlack = time.Second

// Tracker turns successive cumulative Readings into per-zone deltas.
//
// Each (Kind, Socket) pair is tracked on its own:
//   - the first time a zone is seen (first Update, or a zone that appears
//     later, or one that reappears after missing from an Update) its delta is
//     0: that reading is the baseline;
//   - a counter at or above its previous value: delta = cur − prev;
//   - a counter below its previous value wrapped once:
//     delta = cur + MaxRangeUJ − prev;
//   - a counter below its previous value with no usable range (MaxRangeUJ is
//     0, or either value lies above it) was reset;
//   - a delta (increase or wrap) above the zone's ceiling (Reading.Ceiling)
//     times the elapsed time plus PlausibilitySlack is a reset too: a
//     counter that restarted near 0 after a reboot would otherwise read as
//     a wrap worth most of its range;
//   - a reset gives delta 0 with Reset set, and the reading becomes the new
//     baseline. A reset never shows up as a jump: the energy of that one
//     interval is lost instead, and nothing is invented.
//
// Zones missing from an Update are forgotten. Readings must not repeat a
// (Kind, Socket) pair within one Update. A Tracker is not safe for
// concurrent use.
type Tracker struct {
	zones map[zoneKey]*zoneState
	gen   uint64
}

// NewTracker returns a Tracker with no baseline.
func NewTracker() *Tracker {
	return &Tracker{zones: make(map[zoneKey]*zoneState)}
}

// Update returns one Delta per Reading, in the order of rs. elapsed is the
// time since the previous Update (0 or less when unknown: only
// PlausibilitySlack is then allowed).
func (t *Tracker) Update(rs []Reading, elapsed time.Duration) []Delta {
	t.gen++
	ds := make([]Delta, len(rs))
	for i, r := range rs {
		k := zoneKey{r.Kind, r.Socket}
		ds[i] = Delta{Kind: r.Kind, Socket: r.Socket}
		st, ok := t.zones[k]
		if !ok {
			t.zones[k] = &zoneState{last: r.EnergyUJ, gen: t.gen}
			continue
		}
		d, ok := counterDelta(st.last, r.EnergyUJ, r.MaxRangeUJ)
		switch {
		case !ok:
			ds[i].Reset = true
		case !Plausible(d, r.Ceiling(), elapsed):
			ds[i].Reset, ds[i].DiscardedUJ = true, d
		default:
			ds[i].DeltaUJ = d
		}
		st.last = r.EnergyUJ
		st.gen = t.gen
	}
	for k, st := range t.zones {
		if st.gen != t.gen {
			delete(t.zones, k)
		}
	}
	return ds
}

// Plausible reports whether a zone drawing at most ceilingUW can have used
// deltaUJ in elapsed (plus PlausibilitySlack).
func Plausible(deltaUJ, ceilingUW uint64, elapsed time.Duration) bool {
	secs := (max(elapsed, 0) + PlausibilitySlack).Seconds()
	// float64: exact enough for a bound, and no overflow for any input.
	return float64(deltaUJ) <= float64(ceilingUW)*secs
}

// counterDelta is the increase from prev to cur of a counter that wraps at
// maxRange, under the rules documented on Tracker; ok is false for a
// counter that went back with no usable range.
func counterDelta(prev, cur, maxRange uint64) (uint64, bool) {
	if cur >= prev {
		return cur - prev, true
	}
	if maxRange == 0 || prev > maxRange || cur > maxRange {
		return 0, false
	}
	// cur < prev ≤ maxRange, so this is below maxRange: no overflow.
	return maxRange - prev + cur, true
}

// DefaultZones are the zones Counted sums when given none: package and dram
// are disjoint and together are the measured total. Core and uncore are
// inside package and are never counted on top of it.
func DefaultZones() []string { return []string{KindPackage, KindDRAM} }

// Counted sums the deltas of each counted zone kind across sockets. zones
// lists the kinds to count; nil or empty means DefaultZones. Pass
// []string{KindPsys} on platforms whose psys zone covers the whole platform,
// to use psys as the total (reported under "psys").
//
// A kind appears in the result only if at least one delta of that kind was
// given (so a host without dram has no "dram" key, while a baseline tick
// reports zeros for the zones it has). Core and uncore are ignored even when
// listed, because they are already inside package.
func Counted(ds []Delta, zones []string) map[string]uint64 {
	if len(zones) == 0 {
		zones = DefaultZones()
	}
	out := make(map[string]uint64, len(zones))
	for _, d := range ds {
		if d.Kind == KindCore || d.Kind == KindUncore || !contains(zones, d.Kind) {
			continue
		}
		out[d.Kind] += d.DeltaUJ
	}
	return out
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
