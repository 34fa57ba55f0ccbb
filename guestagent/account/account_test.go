package account

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/estimate"
	"github.com/virtwatt/virtwatt/guestagent/follow"
	"github.com/virtwatt/virtwatt/guestagent/measure"
	"github.com/virtwatt/virtwatt/share"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// rec builds a record at host time t0+sec with the given package µJ.
func rec(instance string, seq uint64, sec float64, pkgUJ uint64) *share.Record {
	return &share.Record{
		Schema: share.SchemaVersion, Host: "h", Domain: "vm", UUID: "u", Instance: instance,
		Sequence: seq, Timestamp: t0.Add(time.Duration(sec * float64(time.Second))), IntervalSeconds: 1,
		Zones: map[string]share.ZoneEnergy{share.ZonePackage: {UsageUJ: pkgUJ}},
	}
}

func obsRec(r *share.Record) follow.Observation { return follow.Observation{Record: r} }

func obsTree(pkg, max uint64) follow.Observation {
	return follow.Observation{Tree: &share.Tree{PackageUJ: pkg, PackageMaxUJ: max}}
}

func at(sec float64) time.Time { return t0.Add(time.Duration(sec * float64(time.Second))) }

func newAcct(override float64) *Accountant {
	return New(Options{Pricing: Pricing{Lookup: estimate.Lookup{Override: override}}, PollInterval: time.Second})
}

func wantEnergy(t *testing.T, s measure.Sample, zone string, want uint64) {
	t.Helper()
	if got, ok := s.EnergyUJ[zone]; !ok || got != want {
		t.Fatalf("energy[%s] = %d (present %v), want %d", zone, got, ok, want)
	}
}

func wantPower(t *testing.T, s measure.Sample, zone string, want float64) {
	t.Helper()
	got, ok := s.PowerW[zone]
	if !ok || math.Abs(got-want) > 1e-9 {
		t.Fatalf("power[%s] = %v (present %v), want %v", zone, got, ok, want)
	}
}

func wantNoPower(t *testing.T, s measure.Sample) {
	t.Helper()
	if s.PowerW != nil {
		t.Fatalf("power = %v, want none", s.PowerW)
	}
}

func TestNothingBeforeTheShare(t *testing.T) {
	a := newAcct(100)
	s := a.Observe(at(0), follow.Observation{Err: errors.New("no dir"), Reason: follow.ReasonMissing})
	if s.Up || s.Started() || s.EnergyUJ != nil || s.PowerW != nil || s.EmissionsGrams != 0 {
		t.Fatalf("sample before any share = %+v, want nothing", s)
	}
	if s.ReadErrors[follow.ReasonMissing] != 1 {
		t.Fatalf("read errors = %v", s.ReadErrors)
	}
	if s.IntensityGPerKWh != 100 || s.IntensitySource != estimate.SourceOverride {
		t.Fatalf("intensity = %v %q", s.IntensityGPerKWh, s.IntensitySource)
	}
}

func TestRecordSequence(t *testing.T) {
	a := newAcct(0)
	steps := []struct {
		name   string
		now    float64
		obs    follow.Observation
		up     bool
		energy uint64
		power  float64 // <0: absent
		reason string  // counted at this step
	}{
		{"first record: energy on the counter is counted", 0, obsRec(rec("a", 1, 0, 5_000_000)), true, 5_000_000, -1, ""},
		{"advance 1s: 10 W", 1, obsRec(rec("a", 2, 1, 15_000_000)), true, 15_000_000, 10, ""},
		{"same record again: power kept", 1.5, obsRec(rec("a", 2, 1, 15_000_000)), true, 15_000_000, 10, ""},
		{"host interval 2s: power from host time, not guest", 2.1, obsRec(rec("a", 3, 3, 55_000_000)), true, 55_000_000, 20, ""},
		{"garbled read: down, nothing invented", 2.5, follow.Observation{Err: share.ErrGarbled, Reason: follow.ReasonGarbled}, false, 55_000_000, -1, follow.ReasonGarbled},
		{"counter backwards in the instance: new baseline", 3, obsRec(rec("a", 4, 4, 1_000_000)), true, 55_000_000, -1, follow.ReasonReset},
		{"after the reset: deltas again", 4, obsRec(rec("a", 5, 5, 3_000_000)), true, 57_000_000, 2, ""},
		{"sequence backwards: baseline, counted", 5, obsRec(rec("a", 2, 6, 9_000_000)), true, 57_000_000, -1, follow.ReasonSequence},
		{"new instance: its counters are new energy", 6, obsRec(rec("b", 1, 7, 4_000_000)), true, 61_000_000, -1, ""},
		{"next in the new instance", 7, obsRec(rec("b", 2, 8, 5_000_000)), true, 62_000_000, 1, ""},
		{"unchanged for 3 intervals: still up", 10, obsRec(rec("b", 2, 8, 5_000_000)), true, 62_000_000, 1, ""},
		{"unchanged for more than 3 intervals: stale", 10.5, obsRec(rec("b", 2, 8, 5_000_000)), false, 62_000_000, -1, follow.ReasonStale},
		{"updated again: up, power from the host's span", 11, obsRec(rec("b", 3, 12, 9_000_000)), true, 66_000_000, 1, ""},
	}
	counted := map[string]uint64{}
	for _, st := range steps {
		s := a.Observe(at(st.now), st.obs)
		if st.reason != "" {
			counted[st.reason]++
		}
		if s.Up != st.up {
			t.Fatalf("%s: up = %v, want %v", st.name, s.Up, st.up)
		}
		wantEnergy(t, s, share.ZonePackage, st.energy)
		if st.power < 0 {
			wantNoPower(t, s)
		} else {
			wantPower(t, s, share.ZonePackage, st.power)
		}
		for r, n := range counted {
			if s.ReadErrors[r] != n {
				t.Fatalf("%s: read errors[%s] = %d, want %d (all: %v)", st.name, r, s.ReadErrors[r], n, s.ReadErrors)
			}
		}
		if s.Mode != ModeRecord || s.Domain != "vm" || s.HostTime.IsZero() {
			t.Fatalf("%s: mode %q domain %q host time %v", st.name, s.Mode, s.Domain, s.HostTime)
		}
	}
}

func TestTreeWrapAndPower(t *testing.T) {
	const max = share.TreeMaxRangeUJ
	a := newAcct(0)
	steps := []struct {
		now    float64
		obs    follow.Observation
		energy uint64
		power  float64
		up     bool
	}{
		{0, obsTree(max-3_000_000, max), max - 3_000_000, -1, true},
		{1, obsTree(max-1_000_000, max), max - 1_000_000, -1, true}, // first change: span unknown
		{2, obsTree(4_000_000, max), max + 4_000_000, 5, true},      // wrapped: 1 J + 4 J in 1 s
		{2.5, obsTree(4_000_000, max), max + 4_000_000, 5, true},    // no change yet
		{4, obsTree(10_000_000, max), max + 10_000_000, 3, true},    // 6 J over 2 s of guest clock
		{10.5, obsTree(10_000_000, max), max + 10_000_000, -1, false},
	}
	for i, st := range steps {
		s := a.Observe(at(st.now), st.obs)
		if s.Up != st.up {
			t.Fatalf("step %d: up = %v, want %v", i, s.Up, st.up)
		}
		wantEnergy(t, s, share.ZonePackage, st.energy)
		if st.power < 0 {
			wantNoPower(t, s)
		} else {
			wantPower(t, s, share.ZonePackage, st.power)
		}
		if s.Mode != ModeTree || !s.HostTime.IsZero() {
			t.Fatalf("step %d: mode %q host time %v", i, s.Mode, s.HostTime)
		}
	}
}

func TestTreeDRAMAppears(t *testing.T) {
	a := newAcct(0)
	a.Observe(at(0), obsTree(1_000_000, 100_000_000))
	s := a.Observe(at(1), follow.Observation{Tree: &share.Tree{
		PackageUJ: 2_000_000, PackageMaxUJ: 100_000_000, HasDRAM: true, DRAMUJ: 500_000, DRAMMaxUJ: 100_000_000,
	}})
	wantEnergy(t, s, share.ZonePackage, 2_000_000)
	wantEnergy(t, s, share.ZoneDRAM, 500_000)
}

func TestModeSwitchIsABaseline(t *testing.T) {
	a := newAcct(0)
	a.Observe(at(0), obsRec(rec("a", 1, 0, 5_000_000)))
	s := a.Observe(at(1), obsTree(6_000_000, 1<<40)) // the record vanished: a tree, new baseline
	wantEnergy(t, s, share.ZonePackage, 5_000_000)
	s = a.Observe(at(2), obsTree(6_500_000, 1<<40))
	wantEnergy(t, s, share.ZonePackage, 5_500_000)
	s = a.Observe(at(3), obsRec(rec("a", 9, 5, 9_000_000))) // back to the record: baseline again
	wantEnergy(t, s, share.ZonePackage, 5_500_000)
	s = a.Observe(at(4), obsRec(rec("a", 10, 6, 10_000_000)))
	wantEnergy(t, s, share.ZonePackage, 6_500_000)
	wantPower(t, s, share.ZonePackage, 1)
}

// TestTreeThenRecordAfterChanges: a tree followed for a while, then a
// record: the energy catches up with the record's totals, the tree period
// keeping its prices.
func TestTreeThenRecordAfterChanges(t *testing.T) {
	a := newAcct(0)
	a.Observe(at(0), obsTree(1_000, 1_000_000))
	a.Observe(at(1), obsTree(2_000, 1_000_000))
	r := rec("a", 1, 0, 5_000_000)
	r.CarbonIntensity = 100
	s := a.Observe(at(2), obsRec(r))
	wantEnergy(t, s, share.ZonePackage, 5_000_000)
	want := estimate.KWh(2_000)*estimate.WorldAverageGPerKWh + estimate.KWh(4_998_000)*100
	if math.Abs(s.EmissionsGrams-want) > 1e-12 {
		t.Fatalf("emissions = %v, want %v", s.EmissionsGrams, want)
	}
}

// TestEmissionsAcrossIntensityChange: each delta is priced at the
// intensity and PUE in force when it was read, the energy at start at the
// factors then.
func TestEmissionsAcrossIntensityChange(t *testing.T) {
	a := New(Options{PollInterval: time.Second})
	const kwh = 3_600_000_000_000 // µJ in 1 kWh
	r1 := rec("a", 1, 0, 2*kwh)
	r1.CarbonIntensity, r1.CarbonIntensitySource, r1.PUE, r1.WUE = 100, "grid", 1.5, 2
	r2 := rec("a", 2, 3600, 3*kwh) // 1 kWh in an hour: 1 kW
	r2.CarbonIntensity, r2.CarbonIntensitySource, r2.PUE, r2.WUE = 300, "grid", 1.2, 1
	a.Observe(at(0), obsRec(r1))
	s := a.Observe(at(3600), obsRec(r2))

	wantG := 2*1.5*100 + 1*1.2*300.0
	if math.Abs(s.EmissionsGrams-wantG) > 1e-6 {
		t.Fatalf("emissions = %v g, want %v", s.EmissionsGrams, wantG)
	}
	if wantL := 2*2 + 1*1.0; math.Abs(s.WaterLiters-wantL) > 1e-9 {
		t.Fatalf("water = %v L, want %v", s.WaterLiters, wantL)
	}
	if s.IntensityGPerKWh != 300 || s.IntensitySource != "host:grid" || s.PUE != 1.2 || s.PUESource != SourceHost {
		t.Fatalf("prices in force = %v %q pue %v %q", s.IntensityGPerKWh, s.IntensitySource, s.PUE, s.PUESource)
	}
}

func TestGuestOverridesWin(t *testing.T) {
	pue, wue := 1.1, 0.0
	a := New(Options{PollInterval: time.Second, Pricing: Pricing{
		Lookup: estimate.Lookup{Override: 50}, PUE: &pue, WUE: &wue,
	}})
	r := rec("a", 1, 0, 3_600_000_000_000)
	r.CarbonIntensity, r.PUE, r.WUE = 400, 2, 3
	s := a.Observe(at(0), obsRec(r))
	if math.Abs(s.EmissionsGrams-1*1.1*50) > 1e-9 || s.WaterLiters != 0 {
		t.Fatalf("emissions %v water %v", s.EmissionsGrams, s.WaterLiters)
	}
	if s.IntensitySource != estimate.SourceOverride || s.PUESource != SourceGuest || s.WUESource != SourceGuest {
		t.Fatalf("sources %q %q %q", s.IntensitySource, s.PUESource, s.WUESource)
	}
}

func TestDefaultsWithoutAnything(t *testing.T) {
	a := newAcct(0)
	s := a.Observe(at(0), obsTree(3_600_000_000_000, 1<<50))
	want := 1 * 1.0 * estimate.WorldAverageGPerKWh
	if math.Abs(s.EmissionsGrams-want) > 1e-9 || s.PUE != 1 || s.PUESource != SourceDefault || s.WUE != 0 {
		t.Fatalf("emissions %v pue %v %q wue %v", s.EmissionsGrams, s.PUE, s.PUESource, s.WUE)
	}
}

func TestEmbodiedAccruesWhileUp(t *testing.T) {
	a := newAcct(0)
	mk := func(seq uint64, sec float64) *share.Record {
		r := rec("a", seq, sec, seq*1000)
		r.Schema = 1 // a schema-2 record's embodied_ug wins over the rate
		r.EmbodiedGramsPerHour, r.EmbodiedSource = 36, "test"
		return r
	}
	a.Observe(at(0), obsRec(mk(1, 0)))
	s := a.Observe(at(1), obsRec(mk(2, 10))) // 10 s of host time, within 3 intervals? no: interval 1 s
	if s.EmbodiedGrams != 0 {
		t.Fatalf("embodied over a 10 s gap in a 1 s interval = %v, want 0 (the share was down)", s.EmbodiedGrams)
	}
	s = a.Observe(at(2), obsRec(mk(3, 12)))
	if want := 36.0 * 2 / 3600; math.Abs(s.EmbodiedGrams-want) > 1e-12 || s.EmbodiedSource != "test" {
		t.Fatalf("embodied = %v %q, want %v", s.EmbodiedGrams, s.EmbodiedSource, want)
	}
}

func TestCheck(t *testing.T) {
	low, neg := 0.9, -1.0
	for _, p := range []Pricing{
		{Lookup: estimate.Lookup{Country: "XX-not-a-country"}},
		{PUE: &low},
		{WUE: &neg},
	} {
		if err := p.Check(); err == nil {
			t.Errorf("Check(%+v) = nil, want an error", p)
		}
	}
	if err := (Pricing{Lookup: estimate.Lookup{Country: "FR"}}).Check(); err != nil {
		t.Errorf("Check(FR) = %v", err)
	}
}

// TestTreeThenRecordAtStart: the host writes the tree before the record, so
// the first read can see a tree whose counter wrapped; the first record
// brings the energy up to its own totals.
func TestTreeThenRecordAtStart(t *testing.T) {
	const max = 1_000_000
	a := newAcct(0)
	a.Observe(at(0), obsTree(2_500_000%max, max))
	s := a.Observe(at(0.01), obsRec(rec("a", 1, 0, 2_500_000)))
	wantEnergy(t, s, share.ZonePackage, 2_500_000)
	s = a.Observe(at(1), obsRec(rec("a", 2, 1, 2_600_000)))
	wantEnergy(t, s, share.ZonePackage, 2_600_000)
	r := rec("a", 3, 2, 2_700_000)
	r.CarbonIntensity = 100
	s = a.Observe(at(2), obsRec(r))
	want := estimate.KWh(2_600_000)*estimate.WorldAverageGPerKWh + estimate.KWh(100_000)*100
	if math.Abs(s.EmissionsGrams-want) > 1e-12 {
		t.Fatalf("emissions = %v, want %v", s.EmissionsGrams, want)
	}
}

// TestTreeZoneAppearingIsNotAChange: a dram zone showing up between two
// reads (a tree caught mid-write) neither makes power nor counts as the
// tree's first change.
func TestTreeZoneAppearingIsNotAChange(t *testing.T) {
	a := newAcct(0)
	a.Observe(at(0), obsTree(1_000_000, 1<<40))
	dram := func(pkg, d uint64) follow.Observation {
		return follow.Observation{Tree: &share.Tree{PackageUJ: pkg, PackageMaxUJ: 1 << 40, HasDRAM: true, DRAMUJ: d, DRAMMaxUJ: 1 << 40}}
	}
	s := a.Observe(at(0.1), dram(1_000_000, 10))
	wantNoPower(t, s)
	s = a.Observe(at(1), dram(2_000_000, 20))
	wantNoPower(t, s) // first real change: span unknown
	s = a.Observe(at(3), dram(4_000_000, 20))
	wantPower(t, s, share.ZonePackage, 1)
}

// TestTreeUnknownMaxRangeReset: a Scaphandre-shaped tree gives no max
// range; a counter going backwards is then a reset (a new baseline,
// counted), never a wrap.
func TestTreeUnknownMaxRangeReset(t *testing.T) {
	a := newAcct(100)
	a.Observe(at(0), obsTree(50_000_000, 0))
	a.Observe(at(1), obsTree(60_000_000, 0))
	s := a.Observe(at(2), obsTree(70_000_000, 0))
	wantEnergy(t, s, share.ZonePackage, 70_000_000)
	wantPower(t, s, share.ZonePackage, 10)

	s = a.Observe(at(3), obsTree(1_000_000, 0)) // Scaphandre restarted
	if !s.Up {
		t.Fatal("share down after a reset")
	}
	wantEnergy(t, s, share.ZonePackage, 70_000_000)
	wantNoPower(t, s)
	if s.ReadErrors[follow.ReasonReset] != 1 {
		t.Fatalf("read errors = %v, want one reset", s.ReadErrors)
	}
	s = a.Observe(at(4), obsTree(6_000_000, 0))
	wantEnergy(t, s, share.ZonePackage, 75_000_000)
	wantPower(t, s, share.ZonePackage, 5)
}

// TestTreeResetIsNotAWrap: a tree counter with a known max range that goes
// backwards wrapped only when the wrap is plausible; a host restart that
// resets it to near 0 is a reset, not up to a whole range of energy.
func TestTreeResetIsNotAWrap(t *testing.T) {
	const max = share.TreeMaxRangeUJ
	tests := []struct {
		name       string
		prev, cur  uint64
		after      float64 // seconds of guest clock since the last change
		wantEnergy uint64  // added by the step
		wantReset  bool
	}{
		{"wrap near the top", max - 1_000_000, 4_000_000, 1, 5_000_000, false},
		{"restart mid-range: more than half the range", 100_000_000_000, 2_000_000, 1, 0, true},
		{"restart high: under half the range but 62 kW", 200_000_000_000, 1_000_000, 1, 0, true},
		{"same drop over an hour: 17 W, a wrap", 200_000_000_000, 1_000_000, 3600, max - 200_000_000_000 + 1_000_000, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := New(Options{PollInterval: time.Second, TreeStaleAfter: 2 * time.Hour})
			a.Observe(at(0), obsTree(tt.prev-1_000_000, max))
			before := a.Observe(at(1), obsTree(tt.prev, max))
			s := a.Observe(at(1+tt.after), obsTree(tt.cur, max))
			wantEnergy(t, s, share.ZonePackage, before.EnergyUJ[share.ZonePackage]+tt.wantEnergy)
			if got := s.ReadErrors[follow.ReasonReset] == 1; got != tt.wantReset {
				t.Fatalf("reset counted = %v, want %v (errors %v)", got, tt.wantReset, s.ReadErrors)
			}
			if tt.wantReset {
				wantNoPower(t, s)
				// The next change is measured from the new baseline.
				s = a.Observe(at(2+tt.after), obsTree(tt.cur+3_000_000, max))
				wantEnergy(t, s, share.ZonePackage, before.EnergyUJ[share.ZonePackage]+3_000_000)
				wantPower(t, s, share.ZonePackage, 3)
			}
		})
	}
}

// TestTreeThenRecordNeverDecreases: the first record after a single tree
// reading restarts from the record's totals only when they hold at least
// the energy exported so far; no exported counter goes backwards.
func TestTreeThenRecordNeverDecreases(t *testing.T) {
	const kwh = 3_600_000_000_000
	dram := follow.Observation{Tree: &share.Tree{PackageUJ: 2 * kwh, PackageMaxUJ: 1 << 50, HasDRAM: true, DRAMUJ: kwh, DRAMMaxUJ: 1 << 50}}
	tests := []struct {
		name    string
		tree    follow.Observation
		rec     *share.Record
		wantPkg uint64
	}{
		{"record below the tree", obsTree(2*kwh, 1<<50), rec("a", 1, 0, kwh), 2 * kwh},
		{"record lacks the tree's dram zone", dram, rec("a", 1, 0, 3*kwh), 3 * kwh},
		{"record above the tree: its totals", obsTree(2*kwh, 1<<50), rec("a", 1, 0, 3*kwh), 3 * kwh},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAcct(0)
			s0 := a.Observe(at(0), tt.tree)
			tt.rec.CarbonIntensity = 10 // far below the world average the tree was priced at
			s1 := a.Observe(at(0.01), obsRec(tt.rec))
			wantEnergy(t, s1, share.ZonePackage, tt.wantPkg)
			for z, e := range s0.EnergyUJ {
				if s1.EnergyUJ[z] < e {
					t.Fatalf("energy[%s] went from %d to %d", z, e, s1.EnergyUJ[z])
				}
			}
			if s1.EmissionsGrams < s0.EmissionsGrams || s1.WaterLiters < s0.WaterLiters {
				t.Fatalf("emissions %v → %v, water %v → %v: went backwards",
					s0.EmissionsGrams, s1.EmissionsGrams, s0.WaterLiters, s1.WaterLiters)
			}
		})
	}
}

// TestOldRecordUnconfirmed: a record read for the first time counts as up
// only when its host timestamp is recent by the guest's clock (allowing
// MaxClockSkew either way); otherwise it is down, without power, until its
// sequence advances.
func TestOldRecordUnconfirmed(t *testing.T) {
	tests := []struct {
		name   string
		hostAt float64 // record's host time, seconds from t0; the guest reads it at t0
		up     bool
	}{
		{"just written", 0, true},
		{"2 s old (within 3 intervals)", -2, true},
		{"host clock 50 s behind", -50, true},
		{"host clock 50 s ahead", 50, true},
		{"a day old", -86400, false},
		{"two minutes in the future", 120, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAcct(0)
			r := rec("a", 1, tt.hostAt, 5_000_000)
			s := a.Observe(at(0), obsRec(r))
			if s.Up != tt.up {
				t.Fatalf("first read: up = %v, want %v", s.Up, tt.up)
			}
			wantEnergy(t, s, share.ZonePackage, 5_000_000) // the counters are still the VM's energy
			if tt.up {
				return
			}
			if s.ReadErrors[follow.ReasonStale] != 1 {
				t.Fatalf("read errors = %v, want one stale", s.ReadErrors)
			}
			// The same record again, within 3 intervals of the first read: still down.
			if s = a.Observe(at(1), obsRec(r)); s.Up || s.PowerW != nil {
				t.Fatalf("same old record again: up %v power %v", s.Up, s.PowerW)
			}
			// The host writes again: confirmed, up, with power.
			s = a.Observe(at(2), obsRec(rec("a", 2, tt.hostAt+1, 7_000_000)))
			if !s.Up {
				t.Fatal("sequence advanced: still down")
			}
			wantPower(t, s, share.ZonePackage, 2)
		})
	}
}

// Core and uncore are inside package and psys contains it: a record that
// carries them is priced and totalled on package and dram only.
func TestZonesInsidePackageNotCountedTwice(t *testing.T) {
	a := newAcct(100)
	mk := func(seq uint64, sec float64, pkg uint64) *share.Record {
		r := rec("a", seq, sec, pkg)
		r.Zones[share.ZoneDRAM] = share.ZoneEnergy{UsageUJ: pkg / 10}
		r.Zones[share.ZoneCore] = share.ZoneEnergy{UsageUJ: pkg / 2}
		r.Zones[share.ZoneUncore] = share.ZoneEnergy{UsageUJ: pkg / 4}
		r.Zones[share.ZonePsys] = share.ZoneEnergy{UsageUJ: pkg * 2}
		return r
	}
	a.Observe(at(0), obsRec(mk(1, 0, 3_600_000_000)))
	s := a.Observe(at(1), obsRec(mk(2, 1, 7_200_000_000)))
	if got, want := s.TotalEnergyUJ(), uint64(7_200_000_000+720_000_000); got != want {
		t.Fatalf("total energy = %d µJ, want package + dram = %d (zones %v)", got, want, s.EnergyUJ)
	}
	// 2.2 Wh at 100 g/kWh (no PUE) = 0.22 g.
	if want := 0.22; math.Abs(s.EmissionsGrams-want) > 1e-9 {
		t.Fatalf("emissions = %v g, want %v g (package and dram only)", s.EmissionsGrams, want)
	}
	if tp, ok := s.TotalPowerW(); !ok || math.Abs(tp-3960) > 1e-6 {
		t.Fatalf("total power = %v (%v), want 3960 W of package + dram", tp, ok)
	}
}
