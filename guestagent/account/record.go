package account

import (
	"fmt"
	"math/bits"
	"time"

	"github.com/virtwatt/virtwatt/guestagent/follow"
	"github.com/virtwatt/virtwatt/guestagent/measure"
	"github.com/virtwatt/virtwatt/internal/saturate"
	"github.com/virtwatt/virtwatt/share"
)

// observeRecord accounts for a validated record and reports whether the
// share is up.
func (a *Accountant) observeRecord(now time.Time, r *share.Record) bool {
	r = a.countedZones(r)
	a.meta = share.Record{Host: r.Host, Domain: r.Domain, UUID: r.UUID, Labels: r.Labels,
		Method: r.Method, Model: r.Model, IdleModel: r.IdleModel, CPUModel: r.CPUModel,
		CarbonIntensityZone: r.CarbonIntensityZone, CarbonIntensityTime: r.CarbonIntensityTime}
	prices, refused, err := a.opts.Pricing.prices(r, a.prices)
	if err != nil {
		a.warnOnce("intensity", "carbon intensity from the host record refused; keeping the previous one", "err", err)
	}
	if r.IntervalSeconds != 0 && seconds(r.IntervalSeconds) == 0 {
		refused = append(refused, fmt.Sprintf("interval_seconds %v in the host's record is out of range (%v to %v): ignored",
			r.IntervalSeconds, share.MinInterval, share.MaxInterval))
	}
	a.noteRefused(refused)
	a.prices = prices
	method, model, _ := r.Provenance()
	a.prov = measure.Provenance{Method: method, Model: model}

	switch {
	case a.mode != ModeRecord:
		first := a.mode == ""
		if a.onlyTree {
			// The agent started on a tree (the host writes the tree before
			// the record, or the record came later): the tree's counters
			// wrap, so the record's own totals are the energy on the
			// counter at start. Catch up to them.
			a.onlyTree = false
			if !a.changeSeen && a.coversEnergy(r) {
				// Only the tree's first reading so far (the host was
				// between its tree and its record): start over from the
				// record, priced at its factors. Only when the record
				// holds at least the energy exported so far, and never
				// lowering the emissions or water exported: no exported
				// counter goes backwards.
				// Only trees were read: their energy is all unsplit.
				oldG, oldUJ, water := a.emissions[measure.PartUnsplit], a.partUJ[measure.PartUnsplit], a.water
				a.energy, a.emissions, a.partUJ, a.water = nil, nil, nil, 0
				a.byProv = nil // the same energy, relabelled by the record
				defer func() {
					a.water = max(a.water, water)
					a.keepUnsplit(oldG, oldUJ)
				}()
			}
			// A zone the tree did not count is split by the record; the
			// energy catching up with the tree's is not (the tree said no
			// split).
			for zone, z := range r.Zones {
				switch t, e := z.TotalUJ(), a.energy[zone]; {
				case e == 0:
					a.add(zone, t, z.UsageUJ, z.IdleUJ)
				case t > e:
					a.add(zone, t-e, 0, 0)
				}
			}
			first = false
		}
		if !first {
			// Energy is a baseline (a tree or the guest's estimate
			// counted the time before); embodied_ug was in neither.
			a.catchUpEmbodied(now, r)
		}
		a.restart(ModeRecord)
		a.baseline(now, r, first, -1)
		if first {
			a.log.Info("share found: following the host's record",
				"domain", r.Domain, "uuid", r.UUID, "instance", r.Instance, "sequence", r.Sequence)
		}
		return a.confirmedUp(r)
	case r.Instance != a.instance:
		a.log.Info("host counters restarted (new instance): the new counters are new energy",
			"old_instance", a.instance, "new_instance", r.Instance)
		// The new instance began after the last record of the old one:
		// its counters cannot hold more than that time allows.
		span := max(r.Timestamp.Sub(a.lastHost), now.Sub(a.lastChange))
		a.restart(ModeRecord)
		a.baseline(now, r, true, span)
		return a.confirmedUp(r)
	case r.Sequence < a.seq:
		a.errors[follow.ReasonSequence]++
		a.log.Warn("record sequence went backwards within its instance: starting a new baseline",
			"instance", r.Instance, "previous", a.seq, "now", r.Sequence)
		a.restart(ModeRecord)
		a.baseline(now, r, false, -1)
		return a.confirmedUp(r)
	case r.Sequence == a.seq:
		if !a.confirmed {
			return a.confirmedUp(r)
		}
		return a.fresh(now)
	}

	dt := r.Timestamp.Sub(a.lastHost)
	// The longest time this step's energy can cover: by the host's clock,
	// or by the guest's (a host clock stepped back, or timestamps a
	// nanosecond apart, do not make honest energy implausible, but they
	// give no power).
	span := max(dt, now.Sub(a.lastChange))
	power := map[string]float64{}
	estimated := a.estimated
	a.estimated = false
	for zone, z := range r.Zones {
		cur := z.TotalUJ()
		prev, seen := a.raw[zone]
		prevUsage := a.rawUsage[zone]
		a.raw[zone], a.rawUsage[zone] = cur, z.UsageUJ
		switch {
		case estimated:
			// The time since the last record was estimated (see
			// Estimated): a baseline, not energy.
		case !seen && !plausible(cur, span):
			a.badSample(zone, cur, span)
		case !seen:
			a.add(zone, cur, z.UsageUJ, z.IdleUJ) // a zone that appeared: everything on it is new
		case cur < prev:
			a.errors[follow.ReasonReset]++
			a.warnOnce("backwards", "record counter went backwards within its instance: starting a new baseline for the zone",
				"zone", zone, "instance", r.Instance, "previous_uj", prev, "now_uj", cur)
		case !plausible(cur-prev, span):
			a.badSample(zone, cur-prev, span)
		default:
			d := cur - prev
			var dyn uint64
			if z.UsageUJ >= prevUsage {
				dyn = z.UsageUJ - prevUsage
			}
			dyn = min(dyn, d)
			a.add(zone, d, dyn, d-dyn)
			if dt >= minPowerInterval {
				if p := float64(d) / 1e6 / dt.Seconds(); p <= MaxPlausibleWatts {
					power[zone] = p
				}
			}
		}
	}
	a.power = nil
	if len(power) > 0 {
		a.power = power
	}
	a.interval = seconds(r.IntervalSeconds)
	switch {
	case r.Schema >= 2:
		a.stepEmbodied(now, r, span)
	case dt > 0 && dt <= a.staleAfter():
		a.embodiedSeen, a.embInstance, a.embRate = false, r.Instance, true
		a.embodied = addFinite(a.embodied, a.prices.EmbodiedGPerHour*dt.Hours())
	default:
		a.embodiedSeen, a.embInstance, a.embRate = false, r.Instance, true
	}
	a.seq = r.Sequence
	a.lastHost = r.Timestamp
	a.lastChange = now
	a.lastUpdate = r.Timestamp
	a.confirmed = true // the sequence advanced: the host is alive
	return true
}

// MaxClockSkew is how far apart the host's and the guest's clocks may be
// for a record read for the first time to count as recent by the guest's
// clock. See recent.
const MaxClockSkew = time.Minute

// recent reports whether a record stamped ts, read for the first time at
// now (guest clock), is recent enough to be trusted before its sequence
// advances: no older than the staleness limit, and no further in the
// future, each with MaxClockSkew to spare for clocks that disagree. A
// record outside that window (a day-old record left by a dead host, or a
// clock badly off) is unconfirmed until its sequence advances.
func (a *Accountant) recent(now, ts time.Time) bool {
	age := now.Sub(ts)
	return age <= a.staleAfter()+MaxClockSkew && age >= -MaxClockSkew
}

// confirmedUp reports whether the record taken as a baseline confirms the
// share is up; an unconfirmed one is counted as a stale poll and gives no
// power.
func (a *Accountant) confirmedUp(r *share.Record) bool {
	if a.confirmed {
		return true
	}
	if a.unconfirmedSeq != r.Sequence || !a.warnedUnconfirmed {
		a.warnedUnconfirmed, a.unconfirmedSeq = true, r.Sequence
		a.log.Warn("the share's record is old by the guest's clock: not up until the host updates it",
			"record_timestamp", r.Timestamp, "sequence", r.Sequence, "max_clock_skew", MaxClockSkew)
	}
	a.errors[follow.ReasonStale]++
	a.power = nil
	return false
}

// coversEnergy reports whether r's totals are, in every zone the agent
// exported, at least the energy exported.
func (a *Accountant) coversEnergy(r *share.Record) bool {
	for zone, e := range a.energy {
		if r.Zones[zone].TotalUJ() < e {
			return false
		}
	}
	return true
}

// baseline takes r's counters as the new starting point; with all, the
// energy on them is new energy, unless span >= 0 and it would need more
// than MaxPlausibleWatts over span (a bad sample: a baseline only).
func (a *Accountant) baseline(now time.Time, r *share.Record, all bool, span time.Duration) {
	// The time the energy counters cover was estimated (see Estimated):
	// they are a baseline; embodied_ug was not estimated.
	allEnergy := all && !a.estimated
	a.estimated = false
	for zone, z := range r.Zones {
		a.raw[zone], a.rawUsage[zone] = z.TotalUJ(), z.UsageUJ
		switch {
		case allEnergy && span >= 0 && !plausible(z.TotalUJ(), span):
			a.badSample(zone, z.TotalUJ(), span)
		case allEnergy:
			a.add(zone, z.TotalUJ(), z.UsageUJ, z.IdleUJ)
		}
		if a.energy == nil {
			a.energy = map[string]uint64{}
		}
	}
	a.embodiedSeen = r.Schema >= 2
	a.embInstance, a.embTime, a.embRate = r.Instance, now, !a.embodiedSeen
	if a.embodiedSeen {
		a.rawEmbodied = r.EmbodiedUG
		switch {
		case all && span >= 0 && !plausibleEmbodied(r.EmbodiedUG, span):
			a.badEmbodied(r.EmbodiedUG, span)
		case all:
			a.addEmbodied(r.EmbodiedUG)
		}
	}
	a.instance, a.seq = r.Instance, r.Sequence
	a.interval = seconds(r.IntervalSeconds)
	a.confirmed = a.recent(now, r.Timestamp)
	a.lastHost = r.Timestamp
	a.lastChange = now
	a.lastUpdate = r.Timestamp
}

// seconds is a record's interval_seconds as a Duration, 0 (unknown) when
// outside [share.MinInterval, share.MaxInterval]: a host never ticks
// outside them, and a huge one would keep a dead share from going stale.
func seconds(s float64) time.Duration {
	if !(s >= share.MinInterval.Seconds() && s <= share.MaxInterval.Seconds()) {
		return 0
	}
	return time.Duration(s * float64(time.Second))
}

// countedZones returns r, or a copy of it without the zones that are never
// added into a total (share.CountedZone: core and uncore are inside
// package, psys contains it), said once: counting them would count the
// same energy twice.
func (a *Accountant) countedZones(r *share.Record) *share.Record {
	var extra []string
	for zone := range r.Zones {
		if !share.CountedZone(zone) {
			extra = append(extra, zone)
		}
	}
	if len(extra) == 0 {
		return r
	}
	a.warnOnce("uncounted-zones", "zones inside or around package in the host's record are not counted (they would count the same energy twice)",
		"zones", extra)
	c := *r
	c.Zones = make(map[string]share.ZoneEnergy, len(r.Zones))
	for zone, z := range r.Zones {
		if share.CountedZone(zone) {
			c.Zones[zone] = z
		}
	}
	return &c
}

// plausibleEmbodied reports whether d µg of embodied emissions can have
// been charged to one VM within span: at most share.MaxEmbodiedGramsPerHour
// (a whole server's).
func plausibleEmbodied(d uint64, span time.Duration) bool {
	return float64(d)/1e6 <= share.MaxEmbodiedGramsPerHour*span.Hours()
}

// badEmbodied counts a step of embodied_ug above what a server is charged
// over span: not emissions, the new value is the baseline.
func (a *Accountant) badEmbodied(d uint64, span time.Duration) {
	a.errors[follow.ReasonGarbled]++
	a.warnOnce("implausible-embodied", "record embodied_ug jumped more than a server is charged: a bad sample; starting a new baseline for it",
		"delta_ug", d, "span", span, "max_g_per_hour", share.MaxEmbodiedGramsPerHour)
}

// stepEmbodied follows a schema-2 record's embodied_ug within its
// instance, as energy: a step forward is new emissions, a step back or
// an implausible one a new baseline (counted). A counter first seen within
// an instance (the host went from schema 1 to 2 without restarting) is a
// baseline only: the rate integrated so far covers its past.
func (a *Accountant) stepEmbodied(now time.Time, r *share.Record, span time.Duration) {
	cur, prev, seen := r.EmbodiedUG, a.rawEmbodied, a.embodiedSeen
	a.rawEmbodied, a.embodiedSeen, a.embInstance, a.embTime, a.embRate = cur, true, r.Instance, now, false
	if seen {
		a.embodiedStep(r.Instance, cur, prev, span)
	}
}

// embodiedStep accounts the step of an instance's embodied_ug from prev
// to cur over span: new emissions, or — going back, or implausible — a new
// baseline, counted and logged.
func (a *Accountant) embodiedStep(instance string, cur, prev uint64, span time.Duration) {
	switch {
	case cur < prev:
		a.errors[follow.ReasonReset]++
		a.warnOnce("embodied-backwards", "record embodied_ug went backwards within its instance: starting a new baseline for it",
			"instance", instance, "previous_ug", prev, "now_ug", cur)
	case !plausibleEmbodied(cur-prev, span):
		a.badEmbodied(cur-prev, span)
	default:
		a.addEmbodied(cur - prev)
	}
}

// catchUpEmbodied accounts a schema-2 record's embodied_ug read after
// a tree or the guest's estimate (whose energy makes the record's energy a
// baseline): neither carried embodied emissions, so the counter is
// followed by its instance through them: its step since the last reading
// of the same instance, or all of it for an instance not read before.
func (a *Accountant) catchUpEmbodied(now time.Time, r *share.Record) {
	if r.Schema < 2 {
		return
	}
	if r.Instance != a.embInstance || a.embInstance == "" {
		a.addEmbodied(r.EmbodiedUG)
		return
	}
	// An instance that went on at schema 1 had its rate cover the time
	// since: the counter is then a baseline (as in stepEmbodied).
	if !a.embRate {
		a.embodiedStep(r.Instance, r.EmbodiedUG, a.rawEmbodied, now.Sub(a.embTime))
	}
}

// keepUnsplit keeps the unsplit part at no less than g grams and uj µJ
// (what a tree's reading exported before the record that replaced it),
// taking them out of the dynamic and idle parts in proportion: the total
// is the larger of the two, no part goes backwards, nothing is counted
// twice.
func (a *Accountant) keepUnsplit(g float64, uj uint64) {
	if g <= 0 && uj == 0 {
		return
	}
	if a.emissions == nil {
		a.emissions, a.partUJ = map[string]float64{}, map[string]uint64{}
	}
	dyn, idle := a.emissions[measure.PartDynamic], a.emissions[measure.PartIdle]
	if split := dyn + idle; g >= split {
		dyn, idle = 0, 0
	} else if split > 0 {
		f := (split - g) / split
		dyn, idle = dyn*f, idle*f
	}
	a.emissions[measure.PartDynamic], a.emissions[measure.PartIdle] = dyn, idle
	a.emissions[measure.PartUnsplit] = max(g, a.emissions[measure.PartUnsplit])

	du, di := a.partUJ[measure.PartDynamic], a.partUJ[measure.PartIdle]
	total, _ := saturate.Add(du, di)
	if uj >= total {
		du, di = 0, 0
	} else {
		rest := total - uj
		hi, lo := bits.Mul64(rest, du)
		du, _ = bits.Div64(hi, lo, total) // rest × du / total: hi < total, as rest, du <= total
		di = rest - du
	}
	a.partUJ[measure.PartDynamic], a.partUJ[measure.PartIdle] = du, di
	a.partUJ[measure.PartUnsplit] = max(uj, a.partUJ[measure.PartUnsplit])
	for _, p := range []string{measure.PartDynamic, measure.PartIdle} {
		if a.partUJ[p] == 0 && a.emissions[p] == 0 {
			delete(a.partUJ, p)
			delete(a.emissions, p)
		}
	}
}
