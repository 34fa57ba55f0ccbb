package account

import (
	"testing"

	"github.com/virtwatt/virtwatt/guestagent/follow"
	"github.com/virtwatt/virtwatt/guestagent/measure"
	"github.com/virtwatt/virtwatt/share"
)

var (
	provRAPL = measure.Provenance{Method: share.MethodMeasured, Model: share.ModelRAPL}
	provCCF  = measure.Provenance{Method: share.MethodEstimated, Model: share.ModelCCF}
)

func est(pkg, dram uint64) Estimate {
	return Estimate{Model: share.ModelCCF,
		EnergyUJ:  map[string]uint64{share.ZonePackage: pkg, share.ZoneDRAM: dram},
		DynamicUJ: map[string]uint64{share.ZonePackage: pkg / 2},
		PowerW:    map[string]float64{share.ZonePackage: float64(pkg) / 1e6, share.ZoneDRAM: float64(dram) / 1e6}}
}

// checkByProvenance: the split by provenance sums to the energy, zone by
// zone, and no series went back since prev.
func checkByProvenance(t *testing.T, s, prev measure.Sample) {
	t.Helper()
	sum := map[string]uint64{}
	for p, m := range s.EnergyByProvenance {
		for z, v := range m {
			sum[z] += v
			if old := prev.EnergyByProvenance[p][z]; v < old {
				t.Fatalf("%v/%s went back %d -> %d", p, z, old, v)
			}
		}
	}
	for p, m := range prev.EnergyByProvenance {
		for z := range m {
			if _, ok := s.EnergyByProvenance[p][z]; !ok {
				t.Fatalf("%v/%s vanished", p, z)
			}
		}
	}
	for z, v := range s.EnergyUJ {
		if sum[z] != v {
			t.Fatalf("zone %s: by provenance %d, energy %d (%v)", z, sum[z], v, s.EnergyByProvenance)
		}
	}
}

// TestEstimatedThenMeasured: estimated energy, then a share appears (its
// counters are a baseline only: that time was estimated), then measured
// steps, then the share goes (estimated again) and comes back in the same
// instance with counters that covered the gap (a baseline again): every
// µJ counted once, under its provenance, and nothing goes back.
func TestEstimatedThenMeasured(t *testing.T) {
	a := newAcct(100)
	var prev measure.Sample
	step := func(s measure.Sample) measure.Sample {
		t.Helper()
		checkByProvenance(t, s, prev)
		prev = s
		return s
	}
	s := step(a.Estimated(at(0), est(2_000_000, 500_000)))
	if s.Up || !s.Estimated() || s.Method != share.MethodEstimated || s.Model != share.ModelCCF || s.PowerW[share.ZonePackage] != 2 {
		t.Fatalf("estimated sample: up %v mode %q %s/%s power %v", s.Up, s.Mode, s.Method, s.Model, s.PowerW)
	}
	if s.EnergyPartUJ[measure.PartDynamic] != 1_000_000 || s.EnergyPartUJ[measure.PartIdle] != 1_500_000 {
		t.Fatalf("parts %v, want dynamic 1e6 idle 1.5e6", s.EnergyPartUJ)
	}
	step(a.Estimated(at(1), est(2_000_000, 500_000)))

	// The share appears holding 50 J: a baseline, not energy.
	s = step(a.Observe(at(2), obsRec(rec("i", 1, 2, 50_000_000))))
	wantEnergy(t, s, share.ZonePackage, 4_000_000)
	s = step(a.Observe(at(3), obsRec(rec("i", 2, 3, 53_000_000))))
	if !s.Up || s.Estimated() || s.Method != share.MethodMeasured {
		t.Fatalf("measured sample: up %v mode %q method %q", s.Up, s.Mode, s.Method)
	}
	wantEnergy(t, s, share.ZonePackage, 7_000_000)
	if got := s.EnergyByProvenance[provRAPL][share.ZonePackage]; got != 3_000_000 {
		t.Fatalf("measured package %d, want 3e6", got)
	}
	if got := s.EnergyByProvenance[provCCF][share.ZonePackage]; got != 4_000_000 {
		t.Fatalf("estimated package %d, want 4e6 kept", got)
	}

	// The share goes; the guest estimates; it comes back with 20 J more on
	// the same instance's counters, covering the estimated gap: a baseline.
	step(a.Observe(at(4), follow.Observation{Reason: follow.ReasonMissing}))
	step(a.Estimated(at(5), est(1_000_000, 0)))
	s = step(a.Observe(at(6), obsRec(rec("i", 5, 6, 73_000_000))))
	wantEnergy(t, s, share.ZonePackage, 8_000_000)
	s = step(a.Observe(at(7), obsRec(rec("i", 6, 7, 74_000_000))))
	wantEnergy(t, s, share.ZonePackage, 9_000_000)
	if s.EnergyByProvenance[provRAPL][share.ZonePackage] != 4_000_000 || s.EnergyByProvenance[provCCF][share.ZonePackage] != 5_000_000 {
		t.Fatalf("by provenance %v", s.EnergyByProvenance)
	}
	// A tree read after an estimate is a baseline too.
	step(a.Estimated(at(8), est(1_000_000, 0)))
	step(a.Observe(at(9), obsTree(90_000_000, 1<<40)))
	s = step(a.Observe(at(10), obsTree(91_000_000, 1<<40)))
	wantEnergy(t, s, share.ZonePackage, 10_000_000+1_000_000)
}

// TestEstimatedWhileStaleOrUnconfirmed: a record that stops advancing
// (stale), or one too old to trust (unconfirmed), is estimated over; when
// its sequence advances, the step that covers the estimated time is a
// baseline, and the share is up again.
func TestEstimatedWhileStaleOrUnconfirmed(t *testing.T) {
	a := newAcct(100)
	a.Observe(at(0), obsRec(rec("i", 1, 0, 10_000_000)))
	a.Observe(at(1), obsRec(rec("i", 2, 1, 11_000_000)))
	if s := a.Observe(at(9), obsRec(rec("i", 2, 1, 11_000_000))); s.Up {
		t.Fatal("a record unchanged for 8 intervals is up")
	}
	a.Estimated(at(10), est(3_000_000, 0))
	s := a.Observe(at(11), obsRec(rec("i", 3, 11, 21_000_000))) // 10 J over the estimated gap
	if !s.Up || s.EnergyUJ[share.ZonePackage] != 11_000_000+3_000_000 {
		t.Fatalf("after the stale gap: up %v energy %d, want up and 14e6", s.Up, s.EnergyUJ[share.ZonePackage])
	}

	b := newAcct(100)
	old := rec("i", 7, -86400, 5_000_000) // a day old: unconfirmed
	if s := b.Observe(at(0), obsRec(old)); s.Up {
		t.Fatal("a day-old record is up")
	}
	b.Estimated(at(1), est(1_000_000, 0))
	s = b.Observe(at(2), obsRec(rec("i", 8, 2, 9_000_000)))
	if !s.Up || s.EnergyUJ[share.ZonePackage] != 5_000_000+1_000_000 {
		t.Fatalf("after the unconfirmed record: up %v energy %d, want up and 6e6", s.Up, s.EnergyUJ[share.ZonePackage])
	}
}

// TestEmptyEstimateIsNoBaseline: an estimate step that counted nothing
// (the estimator's first step, its baseline) covers no time: the share
// read next is counted as if no estimate had run (its energy so far,
// all of it, at the first read).
func TestEmptyEstimateIsNoBaseline(t *testing.T) {
	a := newAcct(100)
	a.Estimated(at(0), Estimate{Model: share.ModelCCF}) // the share not mounted yet at the first poll
	s := a.Observe(at(1), obsRec(rec("i", 1, 1, 50_000_000)))
	wantEnergy(t, s, share.ZonePackage, 50_000_000)
	if got := s.EnergyByProvenance[provRAPL][share.ZonePackage]; got != 50_000_000 {
		t.Fatalf("measured package %d, want 5e7 (%v)", got, s.EnergyByProvenance)
	}
}

// TestEmbodiedKeptAcrossEstimate: the guest's estimate holds no embodied
// emissions, so a record read after it (the first ever, or a new instance)
// gives all of its embodied_ug: the guest's embodied grams stay the host's.
func TestEmbodiedKeptAcrossEstimate(t *testing.T) {
	a := newAcct(100)
	a.Estimated(at(0), est(1_000_000, 0))
	a.Estimated(at(1), est(1_000_000, 0))
	s := a.Observe(at(2), obsRec(embodiedRec("i", 1, 2, 7_000_000)))
	if s.EmbodiedGrams != 7 {
		t.Fatalf("first record after an estimate: embodied %v g, want the host's 7 g", s.EmbodiedGrams)
	}
	s = a.Observe(at(3), obsRec(embodiedRec("i", 2, 3, 8_000_000)))
	if s.EmbodiedGrams != 8 {
		t.Fatalf("next step: embodied %v g, want 8", s.EmbodiedGrams)
	}
	// The share goes, the guest estimates, the host restarts (new
	// instance, 0.5 g charged since): all of it is the VM's.
	a.Observe(at(4), follow.Observation{Reason: follow.ReasonMissing})
	a.Estimated(at(5), est(1_000_000, 0))
	s = a.Observe(at(6), obsRec(embodiedRec("j", 1, 6, 500_000)))
	if s.EmbodiedGrams != 8.5 {
		t.Fatalf("new instance after an estimate: embodied %v g, want 8 + 0.5", s.EmbodiedGrams)
	}
}

// TestEstimatedSampleSaysItsOwnSources: once the share is gone and the
// guest estimates, the Sample no longer carries the last record's host
// CPU model, intensity zone or publication time: the estimate used the
// guest's CPU and is priced at the guest's own intensity.
func TestEstimatedSampleSaysItsOwnSources(t *testing.T) {
	a := newAcct(0)
	r := rec("i", 1, 0, 1_000_000)
	r.CPUModel, r.CarbonIntensity, r.CarbonIntensitySource = "Intel Xeon Gold 6230", 300, "electricitymaps"
	r.CarbonIntensityZone, r.CarbonIntensityTime = "FR", t0
	if s := a.Observe(at(0), obsRec(r)); s.CPUModel == "" || s.IntensityZone != "FR" {
		t.Fatalf("record sample: cpu %q zone %q", s.CPUModel, s.IntensityZone)
	}
	a.Observe(at(5), follow.Observation{Reason: follow.ReasonMissing})
	s := a.Estimated(at(6), est(1_000_000, 0))
	if s.CPUModel != "" || s.IntensityZone != "" || !s.IntensityTime.IsZero() || s.IntensitySource == "host:electricitymaps" {
		t.Fatalf("estimated sample: cpu %q zone %q time %v intensity %v %q, want the guest's own",
			s.CPUModel, s.IntensityZone, s.IntensityTime, s.IntensityGPerKWh, s.IntensitySource)
	}
}
