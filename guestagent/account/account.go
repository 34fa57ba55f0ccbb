// Package account turns successive reads of the share into the guest
// agent's own monotonic counters: energy per zone, the power derived from
// it, and the emissions, water and embodied grams priced delta by delta.
//
// The rules, which never invent a value:
//   - energy already on the counter at the first read is the VM's energy so
//     far; it is priced at the factors in force then;
//   - a new instance id means the host's counters restarted from 0: the new
//     counters are all new energy, and power is unknown for that step;
//   - a counter or a sequence going backwards within an instance is not
//     energy: it starts a new baseline, is counted as an error, and power is
//     unknown for that step;
//   - a tree-only counter that goes backwards wrapped once at its max range,
//     unless that wrap would add more than half the range or imply more
//     than MaxPlausibleWatts; then, and when the max range is unknown
//     (Scaphandre writes energy_uj alone), it was reset: a new baseline,
//     counted as a reset;
//   - a record not updated for 3 of its own intervals (by the guest's
//     clock) is stale: the share is down and power is unknown, while
//     counters keep their last values;
//   - a record read for the first time (at start, or as a new baseline) is
//     unconfirmed, down and without power, unless its host timestamp is
//     recent by the guest's clock (within the staleness limit, with
//     MaxClockSkew to spare either way), until its sequence advances: a
//     day-old record left by a dead host is never reported up;
//   - the share is a stranger's input: a step whose energy would need more
//     than MaxPlausibleWatts over the time it can cover (the longer of the
//     host's and the guest's clock) is a bad sample, not energy (a new
//     baseline, counted as garbled); power is exported only over at least
//     minPowerInterval of host time and never above MaxPlausibleWatts;
//     pricing factors out of range are refused (see Pricing); the
//     counters saturate at 2^64-1 µJ rather than wrap, and emissions,
//     water and embodied grams stay finite and are priced only on the
//     energy actually counted.
//
// Emissions are kept by part (measure.PartDynamic, PartIdle, PartUnsplit):
// each step of a record's zone is split as its usage_uj and idle_uj moved
// (the step's total decides the energy, as above; the usage step, at most
// the total, is dynamic, the rest idle), and each part is priced at the
// intensity and PUE of the record the step arrived in. A tree-only share
// says no split: its energy is unsplit.
//
// Embodied emissions: a schema-2 record carries the VM's cumulative
// embodied_ug since its instance began, the host's own counter; it is
// followed exactly like an energy counter (all of it at the first read and
// on a new instance, its steps after, a step back or one above
// share.MaxEmbodiedGramsPerHour a new baseline), in integer µg, so the
// agent's grams equal the host's; it is followed by its instance through
// a tree-only phase or the guest's own estimate (neither carries it), so
// that they drop none of it. A schema-1 record gives a rate
// (embodied_g_per_hour), integrated over host time while the share is up.
package account

import (
	"log/slog"
	"maps"
	"math"
	"strings"
	"time"

	"github.com/virtwatt/virtwatt/estimate"
	"github.com/virtwatt/virtwatt/guestagent/follow"
	"github.com/virtwatt/virtwatt/guestagent/measure"
	"github.com/virtwatt/virtwatt/internal/saturate"
	"github.com/virtwatt/virtwatt/share"
)

// Modes of reading the share, as in measure.Sample.Mode.
const (
	ModeRecord = "record"
	ModeTree   = "tree"
)

// StaleIntervals is how many of its own intervals a share may go without
// an update before it is stale.
const StaleIntervals = 3

// MaxPlausibleWatts bounds the power a step of the share may imply: a
// step that would need more is a bad sample (or, for a tree counter that
// went backwards, a reset rather than a wrap). No single VM draws 10 kW: a
// whole two-socket server draws about 1 kW.
const MaxPlausibleWatts = 10_000

// minPowerInterval is the shortest span of host time a power is derived
// over: half the shortest host interval (share.MinInterval), for the
// host's jitter. Records closer than that (timestamps 1 ns apart) give no
// power.
const minPowerInterval = 5 * time.Millisecond

// plausible reports whether d µJ can have been used within span at no
// more than MaxPlausibleWatts.
func plausible(d uint64, span time.Duration) bool {
	return float64(d)/1e6 <= MaxPlausibleWatts*span.Seconds()
}

// DefaultTreeStaleAfter is how long a tree-only share may go without a
// change before it is stale, until the interval of its updates is known.
const DefaultTreeStaleAfter = 30 * time.Second

// Options configure an Accountant.
type Options struct {
	Pricing Pricing
	// PollInterval is the agent's poll interval: no share is stale sooner
	// than StaleIntervals polls.
	PollInterval time.Duration
	// TreeStaleAfter: see DefaultTreeStaleAfter (used when 0).
	TreeStaleAfter time.Duration
	Logger         *slog.Logger
}

// Accountant holds the agent's counters. It is not safe for concurrent
// use: the agent's poll loop owns it.
type Accountant struct {
	opts Options
	log  *slog.Logger

	mode     string            // ModeRecord, ModeTree, "" before the first read
	instance string            // record mode
	seq      uint64            // record mode
	raw      map[string]uint64 // last counter value per zone, as read
	maxRange map[string]uint64 // tree mode: each zone's max range

	energy    map[string]uint64  // the agent's cumulative µJ per zone
	emissions map[string]float64 // grams per part (measure.Part*)
	partUJ    map[string]uint64  // µJ per part, every zone
	rawUsage  map[string]uint64  // record mode: last usage_uj per zone, as read
	water     float64
	embodied  float64 // grams integrated from schema-1 rates
	// embodiedUG: µg taken from schema-2 records' embodied_ug; rawEmbodied
	// its last value as read (when embodiedSeen).
	embodiedUG   uint64
	rawEmbodied  uint64
	embodiedSeen bool
	// embInstance: the instance rawEmbodied was last read from (kept
	// across format changes and estimates, unlike embodiedSeen), and
	// embTime the guest clock then; "" when none. embRate: that
	// instance's last record was schema 1 (its rate counts the time since).
	embInstance string
	embTime     time.Time
	embRate     bool
	power       map[string]float64 // from the last step; nil when unknown

	// byProv splits energy by provenance (see measure.Sample's
	// EnergyByProvenance); prov is the provenance of what add counts now.
	// estimated: the guest estimated energy since the share's counters were
	// last read, so their next reading is a baseline (see Estimated).
	byProv    map[measure.Provenance]map[string]uint64
	prov      measure.Provenance
	estimated bool

	prices     Prices
	lastHost   time.Time // record mode: host timestamp of the last record
	interval   time.Duration
	lastChange time.Time // guest clock when the share last changed
	changeSeen bool      // tree mode: lastChange is a real change, not the first read
	confirmed  bool      // record mode: the record is recent or its sequence advanced
	// warnedUnconfirmed, unconfirmedSeq: the unconfirmed record last logged.
	warnedUnconfirmed bool
	unconfirmedSeq    uint64
	onlyTree          bool // the agent has read only trees since it started
	lastUpdate        time.Time
	meta              share.Record // host, domain, uuid, labels of the last record
	errors            map[string]uint64
	// warned: the kinds of trouble already logged at warning level (later
	// ones go to debug: a hostile share must not flood the log).
	warned map[string]bool
	// lastProblems, lastRefused: what the last record had dropped or
	// refused, counted once each time it changes.
	lastProblems, lastRefused string
}

// New returns an Accountant that has seen nothing yet. Its prices start as
// the guest's own settings resolve (Pricing.Check reports a bad one).
func New(opts Options) *Accountant {
	if opts.TreeStaleAfter <= 0 {
		opts.TreeStaleAfter = DefaultTreeStaleAfter
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	a := &Accountant{opts: opts, log: opts.Logger, errors: map[string]uint64{}, warned: map[string]bool{}}
	a.prices, _, _ = opts.Pricing.prices(nil, Prices{})
	return a
}

// Observe accounts for one read of the share made at now (guest clock) and
// returns the resulting Sample.
func (a *Accountant) Observe(now time.Time, obs follow.Observation) measure.Sample {
	up := false
	switch {
	case !obs.OK():
		reason := obs.Reason
		if reason == "" {
			reason = follow.ReasonMissing
		}
		a.errors[reason]++
		a.power = nil
	case obs.Record != nil:
		a.noteProblems(obs.Problems)
		up = a.observeRecord(now, obs.Record)
	default:
		up = a.observeTree(now, *obs.Tree)
	}
	return a.sample(now, up)
}

// restart forgets the baseline of the counters (not the agent's totals).
func (a *Accountant) restart(mode string) {
	if a.mode != "" && a.mode != mode {
		a.warnOnce("format", "share changed format: starting a new baseline", "from", a.mode, "to", mode)
	}
	a.mode = mode
	a.raw = map[string]uint64{}
	a.rawUsage = map[string]uint64{}
	a.embodiedSeen = false
	a.maxRange = map[string]uint64{}
	a.instance, a.seq = "", 0
	a.power = nil
	a.changeSeen = false
	a.confirmed = false
	a.interval = 0
}

// add accounts d µJ of new energy in zone at the prices in force, dyn of
// it dynamic and idle of it idle (the rest unsplit). The counter saturates
// at math.MaxUint64 (said once), and only the energy counted is priced, so
// emissions and water stay consistent with it.
func (a *Accountant) add(zone string, d, dyn, idle uint64) {
	if a.energy == nil {
		a.energy = map[string]uint64{}
	}
	cur := a.energy[zone]
	sum, saturated := saturate.Add(cur, d)
	if saturated {
		a.warnOnce("saturated", "energy counter saturated at 2^64-1 µJ: it stays there (restart the agent to count again)",
			"zone", zone, "dropped_uj", d-(sum-cur))
		d = sum - cur
	}
	a.energy[zone] = sum
	a.addProvenance(zone, d)
	dyn = min(dyn, d)
	idle = min(idle, d-dyn)
	a.addPart(measure.PartDynamic, dyn)
	a.addPart(measure.PartIdle, idle)
	a.addPart(measure.PartUnsplit, d-dyn-idle)
	a.water = addFinite(a.water, estimate.WaterLiters(estimate.KWh(d), a.prices.WUE))
}

// addPart prices d µJ of part at the prices in force.
func (a *Accountant) addPart(part string, d uint64) {
	if d == 0 {
		return
	}
	if a.emissions == nil {
		a.emissions, a.partUJ = map[string]float64{}, map[string]uint64{}
	}
	a.partUJ[part], _ = saturate.Add(a.partUJ[part], d)
	g := estimate.EmissionsGrams(estimate.KWh(d), a.prices.PUE, a.prices.Intensity.GPerKWh)
	a.emissions[part] = addFinite(a.emissions[part], g)
}

// operational is the emissions of every part, summed in a fixed order.
func (a *Accountant) operational() float64 {
	var t float64
	for _, p := range []string{measure.PartDynamic, measure.PartIdle, measure.PartUnsplit} {
		t = addFinite(t, a.emissions[p])
	}
	return t
}

// embodiedGrams is the embodied emissions taken from records: schema-2
// µg, plus the grams integrated from schema-1 rates.
func (a *Accountant) embodiedGrams() float64 {
	return addFinite(float64(a.embodiedUG)/1e6, a.embodied)
}

// addEmbodied accounts d µg of a record's embodied_ug, saturating.
func (a *Accountant) addEmbodied(d uint64) {
	a.embodiedUG, _ = saturate.Add(a.embodiedUG, d)
}

// addFinite is total+d, unless d is not a finite value >= 0 or the sum
// would not be finite: then total. With the factors' ranges it never
// happens; it keeps a counter from turning into +Inf for good.
func addFinite(total, d float64) float64 {
	if !(d >= 0) || math.IsInf(d, 0) {
		return total
	}
	if s := total + d; !math.IsInf(s, 0) {
		return s
	}
	return total
}

// badSample counts a step of zone's counter that would need more than
// MaxPlausibleWatts over span: not energy, the new value is the baseline.
func (a *Accountant) badSample(zone string, d uint64, span time.Duration) {
	a.errors[follow.ReasonGarbled]++
	a.warnOnce("implausible", "share counter jumped more than a VM can use: a bad sample, not energy; starting a new baseline for the zone",
		"zone", zone, "delta_uj", d, "span", span, "max_watts", MaxPlausibleWatts)
}

// warnOnce logs msg at warning level the first time kind happens, at
// debug level afterwards.
func (a *Accountant) warnOnce(kind, msg string, args ...any) {
	if a.warned[kind] {
		a.log.Debug(msg, args...)
		return
	}
	a.warned[kind] = true
	a.log.Warn(msg+" (further occurrences are logged at debug level)", args...)
}

// noteProblems counts a record from which something was dropped or cut
// (see share.Record.Sanitize) as garbled, and logs a new set of problems.
func (a *Accountant) noteProblems(problems []string) {
	if len(problems) == 0 {
		a.lastProblems = ""
		return
	}
	a.errors[follow.ReasonGarbled]++
	if p := strings.Join(problems, "; "); p != a.lastProblems {
		a.lastProblems = p
		a.warnOnce("sanitized", "the share's record holds more than the host writes: dropped or cut, the rest is used", "problems", p)
	}
}

// noteRefused counts and logs a new set of pricing factors refused from
// the record (see Pricing).
func (a *Accountant) noteRefused(refused []string) {
	r := strings.Join(refused, "; ")
	if r == a.lastRefused {
		return
	}
	a.lastRefused = r
	if r != "" {
		a.errors[follow.ReasonGarbled]++
		a.warnOnce("refused", "pricing factors in the host's record refused: the next source prices instead", "refused", r)
	}
}

// staleAfter is how long the share may go unchanged before it is stale.
func (a *Accountant) staleAfter() time.Duration {
	minimum := StaleIntervals * a.opts.PollInterval
	var d time.Duration
	switch {
	case a.interval > 0:
		d = StaleIntervals * a.interval
	case a.mode == ModeTree:
		d = a.opts.TreeStaleAfter
	}
	return max(d, minimum)
}

// fresh reports whether the share changed recently enough at now, and
// counts a stale poll otherwise.
func (a *Accountant) fresh(now time.Time) bool {
	if now.Sub(a.lastChange) <= a.staleAfter() {
		return true
	}
	a.errors[follow.ReasonStale]++
	a.power = nil
	return false
}

func (a *Accountant) sample(now time.Time, up bool) measure.Sample {
	s := measure.Sample{
		Time:               now,
		Up:                 up,
		StaleAfter:         a.staleAfter(),
		Host:               a.meta.Host,
		Domain:             a.meta.Domain,
		UUID:               a.meta.UUID,
		Labels:             maps.Clone(a.meta.Labels),
		EnergyUJ:           maps.Clone(a.energy),
		EmissionsGrams:     a.operational(),
		WaterLiters:        a.water,
		EmbodiedGrams:      a.embodiedGrams(),
		EmissionsPartGrams: maps.Clone(a.emissions),
		EnergyPartUJ:       maps.Clone(a.partUJ),
		IntensityZone:      a.meta.CarbonIntensityZone,
		IntensityTime:      a.meta.CarbonIntensityTime,
		CPUModel:           a.meta.CPUModel,
		IntensityGPerKWh:   a.prices.Intensity.GPerKWh,
		IntensitySource:    a.prices.Intensity.Source,
		PUE:                a.prices.PUE,
		WUE:                a.prices.WUE,
		PUESource:          a.prices.PUESource,
		WUESource:          a.prices.WUESource,
		EmbodiedSource:     a.prices.EmbodiedSource,
		Mode:               a.mode,
		LastUpdate:         a.lastUpdate,
		ReadErrors:         maps.Clone(a.errors),
		EnergyByProvenance: a.energyByProvenance(),
	}
	if a.mode == ModeRecord {
		s.HostTime = a.lastHost
		s.Method, s.Model, s.IdleModel = a.meta.Provenance()
	}
	if up && len(a.power) > 0 {
		s.PowerW = maps.Clone(a.power)
	}
	return s
}
