package account

import (
	"bytes"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/estimate"
	"github.com/virtwatt/virtwatt/guestagent/follow"
	"github.com/virtwatt/virtwatt/guestagent/measure"
	"github.com/virtwatt/virtwatt/share"
)

// logged returns an Accountant logging into the returned buffer.
func logged(p Pricing) (*Accountant, *bytes.Buffer) {
	var buf bytes.Buffer
	a := New(Options{Pricing: p, PollInterval: time.Second,
		Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	return a, &buf
}

// finiteSample fails unless every figure of s is a finite number.
func finiteSample(t *testing.T, what string, emissions, water, embodied float64, power map[string]float64) {
	t.Helper()
	for name, v := range map[string]float64{"emissions": emissions, "water": water, "embodied": embodied} {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			t.Fatalf("%s: %s = %v, want a finite value >= 0", what, name, v)
		}
	}
	for z, p := range power {
		if math.IsNaN(p) || math.IsInf(p, 0) || p < 0 || p > MaxPlausibleWatts {
			t.Fatalf("%s: power[%s] = %v, want finite in [0, %v]", what, z, p, MaxPlausibleWatts)
		}
	}
}

// TestRecordFactorsOutOfRange: a record's PUE, WUE, carbon intensity or
// embodied figure out of its range is refused and the next source prices
// (guest setting, table, default): emissions and water stay finite, and
// the refusal is counted and logged once, not per poll.
func TestRecordFactorsOutOfRange(t *testing.T) {
	const kwh = 3_600_000_000_000
	for _, tc := range []struct {
		name          string
		pricing       Pricing
		mutate        func(r *share.Record)
		wantIntensity float64
		wantSource    string
		wantPUE       float64
		wantWUE       float64
	}{
		{"pue 1e308: default PUE", Pricing{Lookup: estimate.Lookup{Override: 100, OverrideSet: true}},
			func(r *share.Record) { r.PUE = 1e308 }, 100, estimate.SourceOverride, 1, 0},
		{"pue 3.5: default PUE", Pricing{Lookup: estimate.Lookup{Override: 100, OverrideSet: true}},
			func(r *share.Record) { r.PUE = 3.5 }, 100, estimate.SourceOverride, 1, 0},
		{"intensity 1e308: the country's", Pricing{Lookup: estimate.Lookup{Country: "FR"}},
			func(r *share.Record) { r.CarbonIntensity, r.CarbonIntensitySource = 1e308, "evil" }, -1, "", 1, 0},
		{"intensity 2001: world average", Pricing{},
			func(r *share.Record) { r.CarbonIntensity = 2001 }, estimate.WorldAverageGPerKWh, "", 1, 0},
		{"wue 1e308: default WUE", Pricing{Lookup: estimate.Lookup{Override: 100, OverrideSet: true}},
			func(r *share.Record) { r.WUE = 1e308 }, 100, estimate.SourceOverride, 1, 0},
		{"embodied 1e308: none", Pricing{Lookup: estimate.Lookup{Override: 100, OverrideSet: true}},
			func(r *share.Record) { r.EmbodiedGramsPerHour = 1e308 }, 100, estimate.SourceOverride, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, logs := logged(tc.pricing)
			var s = a.Observe(at(0), obsRec(func() *share.Record { r := rec("a", 1, 0, kwh); tc.mutate(r); return r }()))
			for i := uint64(2); i < 10; i++ {
				r := rec("a", i, float64(i*3600), i*kwh) // 1 kWh per hour
				tc.mutate(r)
				s = a.Observe(at(float64(i*3600)), obsRec(r))
				finiteSample(t, tc.name, s.EmissionsGrams, s.WaterLiters, s.EmbodiedGrams, s.PowerW)
			}
			if !s.Up {
				t.Fatalf("share down: %+v", s.ReadErrors)
			}
			if tc.wantIntensity >= 0 && s.IntensityGPerKWh != tc.wantIntensity {
				t.Errorf("intensity = %v (%s), want %v", s.IntensityGPerKWh, s.IntensitySource, tc.wantIntensity)
			}
			if strings.HasPrefix(s.IntensitySource, estimate.SourceHost) || s.IntensityGPerKWh > share.MaxCarbonIntensity {
				t.Errorf("intensity %v from %q: the refused host value was used", s.IntensityGPerKWh, s.IntensitySource)
			}
			if tc.wantSource != "" && s.IntensitySource != tc.wantSource {
				t.Errorf("intensity source = %q, want %q", s.IntensitySource, tc.wantSource)
			}
			if s.PUE != tc.wantPUE || s.WUE != tc.wantWUE || s.EmbodiedGrams != 0 {
				t.Errorf("pue %v wue %v embodied %v, want %v %v 0", s.PUE, s.WUE, s.EmbodiedGrams, tc.wantPUE, tc.wantWUE)
			}
			wantG := estimate.KWh(9*kwh) * s.PUE * s.IntensityGPerKWh
			if math.Abs(s.EmissionsGrams-wantG) > 1e-6*wantG {
				t.Errorf("emissions %v g, want %v (9 kWh at the fallback)", s.EmissionsGrams, wantG)
			}
			if s.ReadErrors[follow.ReasonGarbled] != 1 {
				t.Errorf("garbled = %d, want the refusal counted once", s.ReadErrors[follow.ReasonGarbled])
			}
			if n := strings.Count(logs.String(), "msg=\"pricing factors"); n != 1 {
				t.Errorf("refusal logged %d times, want once:\n%s", n, logs)
			}
		})
	}
}

// TestCheckRanges: the guest's own factors are held to the same ranges.
func TestCheckRanges(t *testing.T) {
	big, pue35, wue11 := 1e308, 3.5, 11.0
	for _, p := range []Pricing{
		{PUE: &big}, {PUE: &pue35}, {WUE: &big}, {WUE: &wue11},
		{Lookup: estimate.Lookup{Override: 2001, OverrideSet: true}},
		{Lookup: estimate.Lookup{Override: big}},
	} {
		if err := p.Check(); err == nil {
			t.Errorf("Check(%+v) = nil, want out of range", p)
		} else if !strings.Contains(err.Error(), "out of range") {
			t.Errorf("Check: %v, want out of range", err)
		}
	}
	three, ten := 3.0, 10.0
	if err := (Pricing{PUE: &three, WUE: &ten, Lookup: estimate.Lookup{Override: 2000, OverrideSet: true}}).Check(); err != nil {
		t.Errorf("Check at the bounds: %v", err)
	}
}

// TestCounterSaturates: a counter that would pass 2^64-1 µJ stays there
// (it never wraps back to a small value), and emissions are priced only on
// the energy counted, so they stay consistent with it.
func TestCounterSaturates(t *testing.T) {
	a, logs := logged(Pricing{Lookup: estimate.Lookup{Override: 100, OverrideSet: true}})
	s := a.Observe(at(0), obsRec(rec("a", 1, 0, math.MaxUint64-10)))
	wantEnergy(t, s, share.ZonePackage, math.MaxUint64-10)
	// A new instance each write, each at 2^63 µJ (the record's totals
	// since its instance began): never wraps.
	prev := s.EnergyUJ[share.ZonePackage]
	for i := range 5 {
		r := rec(fmt.Sprint("n", i), 1, float64(1+i), 1<<63)
		s = a.Observe(at(float64(1+i)), obsRec(r))
		if e := s.EnergyUJ[share.ZonePackage]; e < prev {
			t.Fatalf("new instance %d: energy went back from %d to %d", i, prev, e)
		}
		prev = s.EnergyUJ[share.ZonePackage]
	}
	// Plausible steps past the top saturate.
	a2, logs2 := logged(Pricing{Lookup: estimate.Lookup{Override: 100, OverrideSet: true}})
	a2.Observe(at(0), obsRec(rec("a", 1, 0, 1<<63)))
	a2.Observe(at(1), obsRec(rec("b", 1, 1, 1<<63-1))) // not plausible in 1 s: a bad sample
	s = a2.Observe(at(1e9), obsRec(rec("c", 1, 1e9, 1<<63)))
	if e := s.EnergyUJ[share.ZonePackage]; e != math.MaxUint64 {
		t.Fatalf("energy = %d, want saturated at %d", e, uint64(math.MaxUint64))
	}
	wantG := estimate.KWh(math.MaxUint64) * 100
	if math.Abs(s.EmissionsGrams-wantG) > 1e-9*wantG {
		t.Fatalf("emissions %v, want %v: priced on the energy counted", s.EmissionsGrams, wantG)
	}
	if !strings.Contains(logs2.String(), "saturated") {
		t.Errorf("saturation not logged:\n%s", logs2)
	}
	_ = logs
}

// TestImplausibleSteps: timestamps 1 ns apart export no power (not 25 GW),
// and a step that would need more than MaxPlausibleWatts is a bad sample:
// counted, not energy.
func TestImplausibleSteps(t *testing.T) {
	a, _ := logged(Pricing{})
	base := rec("a", 1, 0, 1_000_000)
	a.Observe(at(0), obsRec(base))
	r := rec("a", 2, 0, 1_000_000+25_000_000) // 25 J, 1 ns later by the host's clock
	r.Timestamp = base.Timestamp.Add(time.Nanosecond)
	s := a.Observe(at(1), obsRec(r))
	finiteSample(t, "1 ns apart", s.EmissionsGrams, s.WaterLiters, s.EmbodiedGrams, s.PowerW)
	if s.PowerW != nil {
		t.Fatalf("power %v over 1 ns of host time, want none", s.PowerW)
	}
	wantEnergy(t, s, share.ZonePackage, 26_000_000) // 25 J in 1 s of guest time is plausible energy

	// 100 MJ in a second: a bad sample.
	before := s.ReadErrors[follow.ReasonGarbled]
	s = a.Observe(at(2), obsRec(rec("a", 3, 2, 26_000_000+100e12)))
	wantEnergy(t, s, share.ZonePackage, 26_000_000)
	if s.ReadErrors[follow.ReasonGarbled] != before+1 {
		t.Fatalf("bad sample not counted: %v", s.ReadErrors)
	}
	wantNoPower(t, s)
	// The next honest step counts from the new baseline.
	s = a.Observe(at(3), obsRec(rec("a", 4, 3, 26_000_000+100e12+5_000_000)))
	wantEnergy(t, s, share.ZonePackage, 31_000_000)
	wantPower(t, s, share.ZonePackage, 5)

	// Tree mode: a counter that jumps forward more than 10 kW allows.
	tr := New(Options{PollInterval: time.Second})
	tr.Observe(at(0), obsTree(1_000, 0))
	tr.Observe(at(1), obsTree(2_000_000, 0))
	s = tr.Observe(at(2), obsTree(2_000_000+1e13, 0))
	wantEnergy(t, s, share.ZonePackage, 2_000_000)
	if s.ReadErrors[follow.ReasonGarbled] != 1 {
		t.Fatalf("tree: bad sample not counted: %v", s.ReadErrors)
	}
	s = tr.Observe(at(3), obsTree(2_000_000+1e13+3_000_000, 0))
	wantEnergy(t, s, share.ZonePackage, 5_000_000)
}

// TestRecordIntervalOutOfRange: a record claiming an interval of 11 days
// must not keep a dead share from going stale.
func TestRecordIntervalOutOfRange(t *testing.T) {
	a := New(Options{PollInterval: time.Second})
	r := rec("a", 1, 0, 1_000_000)
	r.IntervalSeconds = 1e6
	a.Observe(at(0), obsRec(r))
	r2 := rec("a", 2, 1, 2_000_000)
	r2.IntervalSeconds = 1e6
	if s := a.Observe(at(1), obsRec(r2)); !s.Up {
		t.Fatalf("fresh record down: %v", s.ReadErrors)
	}
	if s := a.Observe(at(60), obsRec(r2)); s.Up || s.PowerW != nil {
		t.Fatalf("a record unchanged for a minute is still up (interval_seconds 1e6 was believed)")
	}
}

// TestProblemsCounted: a record from which the reader dropped something
// (unknown zones, say) is used, and counted as garbled.
func TestProblemsCounted(t *testing.T) {
	a, logs := logged(Pricing{})
	for i := range 3 {
		obs := obsRec(rec("a", uint64(1+i), float64(i), uint64(1+i)*1_000_000))
		obs.Problems = []string{"1000 zones with unknown names dropped"}
		s := a.Observe(at(float64(i)), obs)
		if s.ReadErrors[follow.ReasonGarbled] != uint64(1+i) || !s.Up {
			t.Fatalf("poll %d: up %v, errors %v", i, s.Up, s.ReadErrors)
		}
	}
	if n := strings.Count(logs.String(), "unknown names"); n != 1 {
		t.Fatalf("problems logged %d times, want once:\n%s", n, logs)
	}
}

// TestHostIntensitySourceNotDoubled: a host that names no source of its
// own writes carbon_intensity_source "host" (or "host:<source>"): the
// guest shows "host", or "host:<source>", never "host:host".
func TestHostIntensitySourceNotDoubled(t *testing.T) {
	for _, tc := range []struct{ written, want string }{
		{"host", "host"},
		{" host ", "host"},
		{"host:file:/etc/ci.json", "host:file:/etc/ci.json"},
		{"electricitymaps", "host:electricitymaps"},
		{"", "host"},
	} {
		a := New(Options{PollInterval: time.Second})
		r := rec("i", 1, 0, 1_000_000)
		r.CarbonIntensity, r.CarbonIntensitySource = 50, tc.written
		if s := a.Observe(at(0), obsRec(r)); s.IntensitySource != tc.want {
			t.Errorf("source %q written: the guest says %q, want %q", tc.written, s.IntensitySource, tc.want)
		}
	}
}

// TestFormatFlappingLogsOnce: a share that holds a record on one poll and
// only the tree on the next (a host rewriting its record in and out) says
// it changed format once, not on every poll; its counters never go back.
func TestFormatFlappingLogsOnce(t *testing.T) {
	a, logs := logged(Pricing{})
	var prev uint64
	for i := range 100 {
		var s measure.Sample
		if i%2 == 0 {
			s = a.Observe(at(float64(i)), obsRec(rec("i", uint64(i+1), float64(i), uint64(i+1)*1_000_000)))
		} else {
			s = a.Observe(at(float64(i)), obsTree(uint64(i+1)*1_000_000, 1<<40))
		}
		if e := s.TotalEnergyUJ(); e < prev {
			t.Fatalf("poll %d: energy went back %d -> %d", i, prev, e)
		} else {
			prev = e
		}
	}
	if n := strings.Count(logs.String(), "share changed format"); n > 1 {
		t.Fatalf("\"share changed format\" logged %d times over 100 polls, want once", n)
	}
}

// TestProvenancesBounded: a host naming a new model on every record (any
// short word passes share's validation) must not grow the guest's
// (method, model) series without bound: past MaxProvenances, a new
// model's energy is counted under ModelOther of its method, said once;
// every µJ is still counted once.
func TestProvenancesBounded(t *testing.T) {
	a, logs := logged(Pricing{})
	var s measure.Sample
	for i := range 1000 {
		r := rec("i", uint64(i+1), float64(i), uint64(i+1)*1_000_000)
		r.Method, r.Model = share.MethodEstimated, fmt.Sprintf("m%d", i)
		s = a.Observe(at(float64(i)), obsRec(r))
	}
	if n := len(s.EnergyByProvenance); n > MaxProvenances+2 {
		t.Fatalf("%d provenances after 1000 models, want at most %d", n, MaxProvenances+2)
	}
	var sum uint64
	for _, zones := range s.EnergyByProvenance {
		sum += zones[share.ZonePackage]
	}
	if sum != s.EnergyUJ[share.ZonePackage] || sum != 1000*1_000_000 {
		t.Fatalf("by provenance %d µJ, energy %d, want 1e9 both", sum, s.EnergyUJ[share.ZonePackage])
	}
	if s.EnergyByProvenance[measure.Provenance{Method: share.MethodEstimated, Model: ModelOther}][share.ZonePackage] == 0 {
		t.Fatalf("no energy under %q: %v", ModelOther, s.EnergyByProvenance)
	}
	if n := strings.Count(logs.String(), "more models than"); n != 1 {
		t.Fatalf("the cap is said %d times, want once:\n%s", n, logs.String())
	}
}
