package account

import (
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/guestagent/follow"
	"github.com/virtwatt/virtwatt/guestagent/measure"
	"github.com/virtwatt/virtwatt/share"
)

// embodiedRec is a schema-2 record of instance at host time sec with
// cumulative embodied_ug ug, and a rate that must not be integrated.
func embodiedRec(instance string, seq uint64, sec float64, ug uint64) *share.Record {
	r := rec(instance, seq, sec, seq*1000)
	r.EmbodiedUG, r.EmbodiedSource = ug, "boavizta-2023"
	r.EmbodiedGramsPerHour = 3600 // 1 g/s: the old integration would show it
	return r
}

// TestEmbodiedFromRecord: the guest's embodied grams are the record's
// cumulative embodied_ug (µg → g), summed over instances, never the rate
// integrated; a counter going back within an instance is a new baseline,
// not emissions, and nothing is counted twice.
func TestEmbodiedFromRecord(t *testing.T) {
	tests := []struct {
		name      string
		recs      []*share.Record
		wantUG    uint64 // what the host charged the VM, as the guest saw it
		wantReset uint64
	}{
		{"one instance", []*share.Record{
			embodiedRec("a", 1, 0, 1_000), embodiedRec("a", 2, 1, 5_000), embodiedRec("a", 3, 2, 12_345),
		}, 12_345, 0},
		{"the agent starts mid-instance: what the counter holds is the VM's so far", []*share.Record{
			embodiedRec("a", 40, 0, 987_654), embodiedRec("a", 41, 1, 990_000),
		}, 990_000, 0},
		{"instance change: the new counter from 0 is all new", []*share.Record{
			embodiedRec("a", 1, 0, 1_000), embodiedRec("a", 2, 1, 7_000),
			embodiedRec("b", 1, 2, 300), embodiedRec("b", 2, 3, 900),
		}, 7_000 + 900, 0},
		{"back within an instance: a new baseline", []*share.Record{
			embodiedRec("a", 1, 0, 5_000), embodiedRec("a", 2, 1, 6_000),
			embodiedRec("a", 3, 2, 2_000), embodiedRec("a", 4, 3, 2_500),
		}, 6_000 + 500, 1},
		{"zero at the instance's start, then growing", []*share.Record{
			embodiedRec("a", 1, 0, 0), embodiedRec("a", 2, 1, 11), embodiedRec("a", 3, 2, 11), embodiedRec("a", 4, 3, 1_000_011),
		}, 1_000_011, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAcct(100)
			var prev measure.Sample
			for i, r := range tt.recs {
				s := a.Observe(at(r.Timestamp.Sub(t0).Seconds()), obsRec(r))
				if s.EmbodiedGrams < prev.EmbodiedGrams {
					t.Fatalf("record %d: embodied went back from %v to %v g", i, prev.EmbodiedGrams, s.EmbodiedGrams)
				}
				if s.EmbodiedSource != "boavizta-2023" {
					t.Fatalf("record %d: embodied source %q", i, s.EmbodiedSource)
				}
				prev = s
			}
			if want := float64(tt.wantUG) / 1e6; prev.EmbodiedGrams != want {
				t.Fatalf("embodied = %v g, want %v g (embodied_ug %d / 1e6, exactly)", prev.EmbodiedGrams, want, tt.wantUG)
			}
			if got := prev.ReadErrors[follow.ReasonReset]; got != tt.wantReset {
				t.Fatalf("resets counted = %d, want %d", got, tt.wantReset)
			}
		})
	}
}

// TestEmbodiedImplausibleStep: a step of embodied_ug above a whole
// server's embodied rate is a bad sample, not emissions.
func TestEmbodiedImplausibleStep(t *testing.T) {
	a := newAcct(100)
	a.Observe(at(0), obsRec(embodiedRec("a", 1, 0, 1_000)))
	huge := uint64(share.MaxEmbodiedGramsPerHour*1e6) * 10 // 10 h of a server's maximum, in 1 s
	s := a.Observe(at(1), obsRec(embodiedRec("a", 2, 1, 1_000+huge)))
	if s.EmbodiedGrams != float64(1_000)/1e6 || s.ReadErrors[follow.ReasonGarbled] != 1 {
		t.Fatalf("embodied = %v g, garbled %d: want the step refused", s.EmbodiedGrams, s.ReadErrors[follow.ReasonGarbled])
	}
	s = a.Observe(at(2), obsRec(embodiedRec("a", 3, 2, 1_000+huge+500)))
	if s.EmbodiedGrams != float64(1_500)/1e6 {
		t.Fatalf("embodied after the bad sample = %v g, want %v (from the new baseline)", s.EmbodiedGrams, float64(1_500)/1e6)
	}
}

// TestEmbodiedSchemaOneStillARate: a schema-1 host gives a rate, and the
// switch to a schema-2 counter within the same instance takes that counter
// as a baseline (the rate covered its past).
func TestEmbodiedSchemaOneThenTwo(t *testing.T) {
	a := newAcct(100)
	r1 := rec("a", 1, 0, 1000)
	r1.Schema, r1.EmbodiedGramsPerHour, r1.EmbodiedSource = 1, 36, "rate"
	r2 := rec("a", 2, 1, 2000)
	r2.Schema, r2.EmbodiedGramsPerHour, r2.EmbodiedSource = 1, 36, "rate"
	a.Observe(at(0), obsRec(r1))
	s := a.Observe(at(1), obsRec(r2))
	rate := 36.0 * 1 / 3600
	if s.EmbodiedGrams != rate {
		t.Fatalf("schema 1: embodied = %v, want %v", s.EmbodiedGrams, rate)
	}
	a.Observe(at(2), obsRec(embodiedRec("a", 3, 2, 50_000)))
	s = a.Observe(at(3), obsRec(embodiedRec("a", 4, 3, 50_400)))
	if want := float64(400)/1e6 + rate; s.EmbodiedGrams != want {
		t.Fatalf("after the switch: embodied = %v, want %v", s.EmbodiedGrams, want)
	}
}

// partsRec is a record whose package zone holds usage and idle µJ, priced
// at intensity and pue.
func partsRec(seq uint64, usage, idle uint64, intensity, pue float64) *share.Record {
	r := rec("a", seq, float64(seq), 0)
	r.Zones = map[string]share.ZoneEnergy{share.ZonePackage: {UsageUJ: usage, IdleUJ: idle}}
	r.CarbonIntensity, r.CarbonIntensitySource, r.PUE = intensity, "live", pue
	return r
}

// TestPerTickPricingByPart: each delta of dynamic and idle energy is
// priced at the intensity and PUE of the record it arrived in, exactly: a
// record whose intensity changes every tick.
func TestPerTickPricingByPart(t *testing.T) {
	steps := []struct {
		usage, idle    uint64 // cumulative
		intensity, pue float64
	}{
		{1_000_000_000, 500_000_000, 50, 1.1},   // at start: all of it, at these
		{3_500_000_000, 900_000_000, 420, 1.3},  // +2.5 kJ dynamic, +0.4 kJ idle
		{3_500_000_000, 2_900_000_000, 17, 1.0}, // idle only
		{9_000_000_001, 2_900_000_007, 777.7, 1.57},
		{9_100_000_001, 3_000_000_007, 3.25, 2},
	}
	a := newAcct(0)
	var wantDyn, wantIdle float64
	var dynUJ, idleUJ, prevU, prevI uint64
	var s measure.Sample
	for i, st := range steps {
		s = a.Observe(at(float64(i+1)), obsRec(partsRec(uint64(i+1), st.usage, st.idle, st.intensity, st.pue)))
		du, di := st.usage-prevU, st.idle-prevI
		prevU, prevI = st.usage, st.idle
		dynUJ += du
		idleUJ += di
		if du > 0 {
			wantDyn += float64(du) / 3.6e12 * st.pue * st.intensity
		}
		if di > 0 {
			wantIdle += float64(di) / 3.6e12 * st.pue * st.intensity
		}
		if s.IntensityGPerKWh != st.intensity {
			t.Fatalf("tick %d: intensity in force %v, want %v", i, s.IntensityGPerKWh, st.intensity)
		}
	}
	if got := s.EmissionsPartGrams[measure.PartDynamic]; got != wantDyn {
		t.Errorf("dynamic = %v g, want %v g", got, wantDyn)
	}
	if got := s.EmissionsPartGrams[measure.PartIdle]; got != wantIdle {
		t.Errorf("idle = %v g, want %v g", got, wantIdle)
	}
	if _, ok := s.EmissionsPartGrams[measure.PartUnsplit]; ok {
		t.Errorf("unsplit emissions from records that split every zone: %v", s.EmissionsPartGrams)
	}
	if want := wantDyn + wantIdle; s.EmissionsGrams != want {
		t.Errorf("total = %v g, want %v g (dynamic + idle)", s.EmissionsGrams, want)
	}
	if s.EnergyPartUJ[measure.PartDynamic] != dynUJ || s.EnergyPartUJ[measure.PartIdle] != idleUJ {
		t.Errorf("energy by part = %v, want dynamic %d idle %d", s.EnergyPartUJ, dynUJ, idleUJ)
	}
	if s.EnergyUJ[share.ZonePackage] != dynUJ+idleUJ {
		t.Errorf("energy = %d, want %d", s.EnergyUJ[share.ZonePackage], dynUJ+idleUJ)
	}
}

// TestPartsAcrossInstances: a new instance's counters are all new energy,
// split as its record says; a zone counter back within an instance adds
// nothing to any part.
func TestPartsAcrossInstances(t *testing.T) {
	a := newAcct(100)
	mk := func(inst string, seq uint64, sec float64, u, i uint64) *share.Record {
		r := rec(inst, seq, sec, 0)
		r.Zones = map[string]share.ZoneEnergy{share.ZonePackage: {UsageUJ: u, IdleUJ: i}}
		return r
	}
	a.Observe(at(0), obsRec(mk("a", 1, 0, 100, 10)))
	a.Observe(at(1), obsRec(mk("a", 2, 1, 300, 30)))
	a.Observe(at(2), obsRec(mk("a", 3, 2, 50, 5))) // back: a baseline
	a.Observe(at(3), obsRec(mk("a", 4, 3, 70, 6)))
	s := a.Observe(at(4), obsRec(mk("b", 1, 4, 1000, 400)))
	wantD, wantI := uint64(300+20+1000), uint64(30+1+400)
	if s.EnergyPartUJ[measure.PartDynamic] != wantD || s.EnergyPartUJ[measure.PartIdle] != wantI {
		t.Fatalf("energy by part = %v, want dynamic %d idle %d", s.EnergyPartUJ, wantD, wantI)
	}
	if s.EnergyUJ[share.ZonePackage] != wantD+wantI {
		t.Fatalf("energy = %d, want %d", s.EnergyUJ[share.ZonePackage], wantD+wantI)
	}
}

// TestTreeEnergyIsUnsplit: a tree-only share gives no split: its energy is
// the unsplit part, and a provenance is not invented for it.
func TestTreeEnergyIsUnsplit(t *testing.T) {
	a := newAcct(100)
	a.Observe(at(0), obsTree(1_000_000, 1<<40))
	s := a.Observe(at(1), obsTree(3_000_000, 1<<40))
	if s.EnergyPartUJ[measure.PartUnsplit] != 3_000_000 || len(s.EnergyPartUJ) != 1 {
		t.Fatalf("energy by part = %v, want all unsplit", s.EnergyPartUJ)
	}
	if s.EmissionsPartGrams[measure.PartUnsplit] != s.EmissionsGrams || s.Method != "" {
		t.Fatalf("parts %v of %v g, method %q", s.EmissionsPartGrams, s.EmissionsGrams, s.Method)
	}
}

// TestProvenanceFromRecord: the sample says how the record's energy was
// obtained, with schema 1's defaults.
func TestProvenanceFromRecord(t *testing.T) {
	r := rec("a", 1, 0, 1000)
	r.Method, r.Model, r.IdleModel, r.CPUModel = share.MethodEstimated, share.ModelTDP, share.IdleModelFitted, "Xeon"
	r.CarbonIntensityZone, r.CarbonIntensityTime = "FR", t0.Add(-time.Hour)
	s := newAcct(0).Observe(at(0), obsRec(r))
	if s.Method != share.MethodEstimated || s.Model != share.ModelTDP || s.IdleModel != share.IdleModelFitted ||
		s.CPUModel != "Xeon" || s.IntensityZone != "FR" || !s.IntensityTime.Equal(t0.Add(-time.Hour)) {
		t.Fatalf("provenance %q %q %q %q zone %q time %v", s.Method, s.Model, s.IdleModel, s.CPUModel, s.IntensityZone, s.IntensityTime)
	}
	old := rec("a", 1, 0, 1000)
	old.Schema = 1
	s = newAcct(0).Observe(at(0), obsRec(old))
	if s.Method != share.MethodMeasured || s.Model != share.ModelRAPL || s.IdleModel != share.IdleModelTime {
		t.Fatalf("schema 1 provenance %q %q %q", s.Method, s.Model, s.IdleModel)
	}
}

// TestTreeThenRecordSplits: a tree read just before the host's first
// record (the host writes the tree first) is replaced by the record's
// totals, split as the record says; what the tree's reading exported stays
// unsplit (no part goes backwards), out of the split parts, so nothing is
// counted twice and the total is the larger of the two.
func TestTreeThenRecordSplits(t *testing.T) {
	const kwh = 3_600_000_000_000
	// The guest prices the tree at the world average (no host intensity in
	// a tree), the record at its 200 g/kWh.
	for _, tt := range []struct {
		name   string
		treeUJ uint64
	}{
		{"tree below the record", kwh / 4},
		{"tree equal to the record, priced higher", kwh},
		{"empty tree", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := New(Options{PollInterval: time.Second})
			s0 := a.Observe(at(0), obsTree(tt.treeUJ, 1<<50))
			r := rec("a", 1, 0, 0)
			r.Zones = map[string]share.ZoneEnergy{share.ZonePackage: {UsageUJ: 3 * kwh / 4, IdleUJ: kwh / 4}}
			r.CarbonIntensity = 200
			s := a.Observe(at(0.01), obsRec(r))
			for p, g := range s0.EmissionsPartGrams {
				if s.EmissionsPartGrams[p] < g || s.EnergyPartUJ[p] < s0.EnergyPartUJ[p] {
					t.Fatalf("part %s went back: %v → %v", p, s0.EmissionsPartGrams, s.EmissionsPartGrams)
				}
			}
			var sumUJ uint64
			for _, e := range s.EnergyPartUJ {
				sumUJ += e
			}
			if sumUJ != kwh || s.EnergyUJ[share.ZonePackage] != kwh {
				t.Fatalf("energy by part %v (Σ %d), zone %d, want %d", s.EnergyPartUJ, sumUJ, s.EnergyUJ[share.ZonePackage], uint64(kwh))
			}
			wantTotal := max(s0.EmissionsGrams, 200.0) // 1 kWh at the record's 200 g/kWh
			if diff := s.EmissionsGrams - wantTotal; diff > 1e-9 || diff < -1e-9 {
				t.Fatalf("total %v g, want %v", s.EmissionsGrams, wantTotal)
			}
			if d, i := s.EnergyPartUJ[measure.PartDynamic], s.EnergyPartUJ[measure.PartIdle]; d != 3*i && !(d == 0 && i == 0) {
				t.Fatalf("dynamic %d, idle %d: not the record's 3:1", d, i)
			}
			if tt.treeUJ == 0 && s.EnergyPartUJ[measure.PartDynamic] != 3*kwh/4 {
				t.Fatalf("an empty tree: energy by part %v, want the record's split", s.EnergyPartUJ)
			}
		})
	}
}

// TestEmbodiedAfterTreeThenRecord: a share that held only the tree for a
// while (the guest counted its energy), then a record: the tree carried
// no embodied figure, so all of the record's embodied_ug is the VM's,
// whether the tree had moved or not; its energy is a baseline.
func TestEmbodiedAfterTreeThenRecord(t *testing.T) {
	for _, moved := range []bool{false, true} {
		a := newAcct(100)
		a.Observe(at(0), obsTree(1_000_000, 1<<40))
		if moved {
			a.Observe(at(1), obsTree(2_000_000, 1<<40))
			a.Observe(at(2), obsTree(3_000_000, 1<<40))
		}
		s := a.Observe(at(3), obsRec(embodiedRec("i", 1, 3, 5_000_000)))
		if s.EmbodiedGrams != 5 {
			t.Errorf("tree moved %v: embodied %v g after the record, want its 5 g", moved, s.EmbodiedGrams)
		}
	}
}

// TestEmbodiedAcrossFormatChanges: the share goes from its record to the
// tree alone and back (a host rewriting its record in and out), or the
// guest estimates and then reads a tree before the record: embodied_ug is
// followed by its instance through them, so the guest's grams stay the
// host's counter: nothing dropped, nothing twice.
func TestEmbodiedAcrossFormatChanges(t *testing.T) {
	a := newAcct(100)
	a.Observe(at(0), obsRec(embodiedRec("i", 1, 0, 1_000_000)))
	a.Observe(at(1), obsTree(2_000_000, 1<<40))
	a.Observe(at(2), obsTree(3_000_000, 1<<40))
	s := a.Observe(at(3), obsRec(embodiedRec("i", 4, 3, 3_000_000)))
	if s.EmbodiedGrams != 3 {
		t.Fatalf("record, tree, record of one instance: embodied %v g, want the host's 3 g", s.EmbodiedGrams)
	}
	s = a.Observe(at(4), obsRec(embodiedRec("i", 5, 4, 3_500_000)))
	if s.EmbodiedGrams != 3.5 {
		t.Fatalf("next step: embodied %v g, want 3.5", s.EmbodiedGrams)
	}
	// A new instance after a tree phase: all of its counter is new.
	a.Observe(at(5), obsTree(4_000_000, 1<<40))
	s = a.Observe(at(6), obsRec(embodiedRec("j", 1, 6, 250_000)))
	if s.EmbodiedGrams != 3.75 {
		t.Fatalf("new instance after a tree: embodied %v g, want 3.5 + 0.25", s.EmbodiedGrams)
	}

	b := newAcct(100)
	b.Estimated(at(0), est(1_000_000, 0))
	b.Observe(at(1), obsTree(5_000_000, 1<<40))
	s = b.Observe(at(2), obsRec(embodiedRec("k", 1, 2, 2_000_000)))
	if s.EmbodiedGrams != 2 {
		t.Fatalf("estimate, tree, record: embodied %v g, want the host's 2 g", s.EmbodiedGrams)
	}
}

// TestEmbodiedSchemaOneThroughTree: a schema-2 record, schema-1 ones of
// the same instance (the rate integrated), the tree alone, then schema 2
// again: the schema-1 time is counted by the rate only, not again by the
// counter's step.
func TestEmbodiedSchemaOneThroughTree(t *testing.T) {
	a := newAcct(100)
	a.Observe(at(0), obsRec(embodiedRec("i", 1, 0, 1_000_000)))
	r := embodiedRec("i", 2, 1, 0)
	r.Schema, r.EmbodiedUG, r.EmbodiedGramsPerHour = 1, 0, 3600 // 1 g/s
	s := a.Observe(at(1), obsRec(r))
	if s.EmbodiedGrams != 2 {
		t.Fatalf("after a schema-1 second at 1 g/s: %v g, want 2", s.EmbodiedGrams)
	}
	a.Observe(at(2), obsTree(2_000_000, 1<<40))
	s = a.Observe(at(3), obsRec(embodiedRec("i", 4, 3, 9_000_000)))
	if s.EmbodiedGrams != 2 {
		t.Fatalf("schema 2 again after a tree: %v g, want 2 (a baseline: the rate covered the schema-1 time)", s.EmbodiedGrams)
	}
}
