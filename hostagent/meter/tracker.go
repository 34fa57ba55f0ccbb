package meter

// Delta is the energy one zone used since the previous Update, wrap-corrected.
type Delta struct {
	Kind    string
	Socket  int
	DeltaUJ uint64
}

type zoneKey struct {
	kind   string
	socket int
}

type zoneState struct {
	last uint64
	gen  uint64
}

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
//     0, or either value lies above it): delta 0 and
//     the reading becomes the new baseline. A reset never shows up as a huge
//     jump; the energy of that one interval is lost instead.
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

// Update returns one Delta per Reading, in the order of rs.
func (t *Tracker) Update(rs []Reading) []Delta {
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
		ds[i].DeltaUJ = counterDelta(st.last, r.EnergyUJ, r.MaxRangeUJ)
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

// counterDelta is the increase from prev to cur of a counter that wraps at
// maxRange, under the rules documented on Tracker.
func counterDelta(prev, cur, maxRange uint64) uint64 {
	if cur >= prev {
		return cur - prev
	}
	if maxRange == 0 || prev > maxRange || cur > maxRange {
		return 0
	}
	// cur < prev ≤ maxRange, so this is below maxRange: no overflow.
	return maxRange - prev + cur
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
