package powercurve

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// line draws n points of P = idle + marginal × busy, busy uniform in
// [0, maxBusy], with relative noise ±noise.
func line(rng *rand.Rand, n int, idle, marginal, maxBusy, noise float64) []Point {
	ps := make([]Point, n)
	for i := range ps {
		b := rng.Float64() * maxBusy
		ps[i] = Point{BusyCPUs: b, PowerW: (idle + marginal*b) * (1 + noise*(2*rng.Float64()-1))}
	}
	return ps
}

func TestFitRecoversLine(t *testing.T) {
	tests := []struct {
		name                 string
		idle, marginal, busy float64
		noise                float64
		outliers             int // points set to 5× their power
		tolIdle, tolMarginal float64
	}{
		{"exact", 40, 12, 8, 0, 0, 1e-9, 1e-9},
		{"noise 5%", 40, 12, 8, 0.05, 0, 0.02, 0.03},
		{"noise and 10% outliers", 40, 12, 8, 0.05, 50, 0.05, 0.10},
		{"flat (dram)", 6, 0, 16, 0.05, 0, 0.02, 0},
		{"big host", 120, 2.5, 96, 0.03, 20, 0.03, 0.05},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 9))
			ps := line(rng, 500, tc.idle, tc.marginal, tc.busy, tc.noise)
			for i := range tc.outliers {
				ps[i*7].PowerW *= 5
			}
			c, ok := Fit(ps)
			if !ok {
				t.Fatal("no fit")
			}
			if d := math.Abs(c.IdleW-tc.idle) / tc.idle; d > tc.tolIdle {
				t.Errorf("idle %.4f W, want %.1f ±%.0f%%", c.IdleW, tc.idle, tc.tolIdle*100)
			}
			if tc.marginal == 0 {
				if math.Abs(c.MarginalW) > 0.05 {
					t.Errorf("marginal %.4f W/CPU, want ~0", c.MarginalW)
				}
			} else if d := math.Abs(c.MarginalW-tc.marginal) / tc.marginal; d > tc.tolMarginal {
				t.Errorf("marginal %.4f W/CPU, want %.1f ±%.0f%%", c.MarginalW, tc.marginal, tc.tolMarginal*100)
			}
			if c.Samples != 500 || c.SpreadCPUs < 0.7*tc.busy || c.SpreadCPUs > 0.9*tc.busy {
				t.Errorf("samples %d spread %.2f, want 500 and ~0.8×%.0f", c.Samples, c.SpreadCPUs, tc.busy)
			}
		})
	}
}

func TestFitRefusesDegenerateInput(t *testing.T) {
	for name, ps := range map[string][]Point{
		"empty":      nil,
		"two points": {{1, 50}, {2, 60}},
		"no spread":  {{2, 50}, {2, 60}, {2, 55}, {2, 52}},
		"NaN":        {{1, 50}, {2, math.NaN()}, {3, 70}},
		"Inf":        {{1, 50}, {math.Inf(1), 60}, {3, 70}},
	} {
		if c, ok := Fit(ps); ok {
			t.Errorf("%s: got %+v, want no curve", name, c)
		}
	}
}

func TestSelectKAndMedian(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var f fitter
	for n := 1; n < 60; n++ {
		r := make([]float64, n)
		for i := range r {
			r[i] = math.Round(rng.NormFloat64() * 10) // ties included
		}
		f.scratch = grow(f.scratch, n)
		got := f.medianAbs(r)
		s := make([]float64, n)
		for i, v := range r {
			s[i] = math.Abs(v)
		}
		sortFloats(s)
		want := s[n/2]
		if n%2 == 0 {
			want = (s[n/2-1] + s[n/2]) / 2
		}
		if got != want {
			t.Fatalf("n=%d: median %v, want %v", n, got, want)
		}
	}
}

func sortFloats(s []float64) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func TestWindowIsBoundedAndKeepsEveryLoadLevel(t *testing.T) {
	w := NewWindow(4, 5)
	for i := range 1000 { // a host at one load for a long time...
		w.Add(Point{BusyCPUs: 1, PowerW: float64(i)}, 8)
	}
	w.Add(Point{BusyCPUs: 7, PowerW: 1}, 8) // ...then once at another
	if got := w.Len(); got != 6 {
		t.Fatalf("len %d, want 5 (one full bin) + 1", got)
	}
	ps := w.AppendPoints(nil)
	if ps[0].PowerW != 995 || ps[4].PowerW != 999 || ps[5].BusyCPUs != 7 {
		t.Errorf("points %v: want the newest five at load 1, then the one at 7", ps)
	}
	for _, bad := range []Point{{-1, 10}, {9, 10}, {1, -1}, {math.NaN(), 1}, {1, math.Inf(1)}} {
		if w.Add(bad, 8) {
			t.Errorf("%v was kept", bad)
		}
	}
	if w.Add(Point{1, 1}, 0) {
		t.Error("a point with 0 CPUs was kept")
	}
}

func TestCriterion(t *testing.T) {
	k := DefaultCriterion()
	good := Curve{IdleW: 40, MarginalW: 12, IdleSEW: 0.5, Samples: 100, SpreadCPUs: 4}
	if !k.Accepts(good, 16) {
		t.Fatal("a good curve is refused")
	}
	for name, c := range map[string]Curve{
		"few samples":     {IdleW: 40, MarginalW: 12, IdleSEW: 0.5, Samples: 59, SpreadCPUs: 4},
		"no spread":       {IdleW: 40, MarginalW: 12, IdleSEW: 0.5, Samples: 100, SpreadCPUs: 1.5},
		"uncertain idle":  {IdleW: 40, MarginalW: 12, IdleSEW: 1.1, Samples: 100, SpreadCPUs: 4},
		"negative slope":  {IdleW: 40, MarginalW: -1, IdleSEW: 0.5, Samples: 100, SpreadCPUs: 4},
		"idle not above0": {IdleW: 0, MarginalW: 12, IdleSEW: 0, Samples: 100, SpreadCPUs: 4},
	} {
		if k.Accepts(c, 16) {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestLearnerLearnsAndRestores(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	l := NewLearner(DefaultCriterion())
	for _, p := range line(rng, 200, 40, 12, 8, 0.05) {
		l.Observe(p, 16)
	}
	c, ok := l.Accepted()
	if !ok {
		lt, _ := l.Latest()
		t.Fatalf("not accepted after 200 points: %+v", lt)
	}
	if math.Abs(c.IdleW-40) > 2 || math.Abs(c.MarginalW-12) > 1.2 {
		t.Fatalf("curve %+v, want 40 W + 12 W/CPU", c)
	}
	var z SavedZone
	l.SaveWindow(&z)
	s := &Saved{Zones: map[string]*SavedZone{"package": &z}}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	r := NewLearner(DefaultCriterion())
	r.RestoreWindow(&z)
	l.Refit()
	a, _ := l.Latest()
	b, ok := r.Accepted()
	if !ok || math.Abs(a.IdleW-b.IdleW) > 5e-3 || math.Abs(a.MarginalW-b.MarginalW) > 5e-3 || a.Samples != b.Samples {
		t.Fatalf("restored %+v (accepted %v), want %+v", b, ok, a)
	}
}

func TestSavedCurveRoundTrip(t *testing.T) {
	c := Curve{IdleW: 40.123456, MarginalW: 11.987654, IdleSEW: 0.25, R2: 0.987654, ResidualW: 1.5, Samples: 77, SpreadCPUs: 5.5}
	s := SaveCurve(c, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	got := s.Curve()
	if math.Abs(got.IdleW-c.IdleW) > 1e-6 || math.Abs(got.MarginalW-c.MarginalW) > 1e-6 || got.Samples != 77 || math.Abs(got.R2-c.R2) > 1e-6 {
		t.Fatalf("round trip %+v, want %+v", got, c)
	}
	neg := SaveCurve(Curve{IdleW: -3, MarginalW: -1, R2: -0.5}, time.Time{})
	if neg.IdleUW != 0 || neg.MarginalUWPerCPU != 0 || neg.R2PPM != 0 {
		t.Fatalf("negative figures saved as %+v, want 0s", neg)
	}
}

func TestSavedValidate(t *testing.T) {
	ok := func() *Saved {
		return &Saved{Zones: map[string]*SavedZone{"package": {CPUs: 16, Bins: [][][2]uint64{{{1000, 52000}}},
			Calibrated: &SavedCurve{IdleUW: 40e6, MarginalUWPerCPU: 12e6, R2PPM: 990000, Samples: 10}}}}
	}
	if err := ok().Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		mod        func(s *Saved)
	}{
		{"null zone", `zones["package"]`, func(s *Saved) { s.Zones["package"] = nil }},
		{"no cpus", `zones["package"].cpus`, func(s *Saved) { s.Zones["package"].CPUs = 0 }},
		{"busy", `zones["package"].bins[0][0][0]`, func(s *Saved) { s.Zones["package"].Bins[0][0][0] = 1 << 30 }},
		{"power", `zones["package"].bins[0][0][1]`, func(s *Saved) { s.Zones["package"].Bins[0][0][1] = 1 << 50 }},
		{"r2", `zones["package"].calibrated.r2_ppm`, func(s *Saved) { s.Zones["package"].Calibrated.R2PPM = 2_000_000 }},
		{"idle 0", `zones["package"].calibrated.idle_uw`, func(s *Saved) { s.Zones["package"].Calibrated.IdleUW = 0 }},
		{"too many bins", `zones["package"].bins`, func(s *Saved) { s.Zones["package"].Bins = make([][][2]uint64, MaxBins+1) }},
	}
	for _, tc := range tests {
		s := ok()
		tc.mod(s)
		err := s.Validate()
		fe, isFE := err.(*FieldError)
		if !isFE || fe.Path != tc.path {
			t.Errorf("%s: got %v, want a FieldError at %s", tc.name, err, tc.path)
		}
	}
}

func BenchmarkRefit(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	l := NewLearner(DefaultCriterion())
	for _, p := range line(rng, 2000, 40, 12, 16, 0.05) {
		l.Observe(p, 16)
	}
	b.ReportAllocs()
	for b.Loop() {
		l.Refit()
	}
}
