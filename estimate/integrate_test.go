package estimate

import (
	"math"
	"math/big"
	"testing"
	"time"
)

// TestIntegratorExact: Σ deltas equals ⌊Σ µW × ns / 10⁹⌋, computed here
// with big integers, at every step, over steps whose energies are not
// whole µJ (a naive per-step rounding drifts by up to 1 µJ per step).
func TestIntegratorExact(t *testing.T) {
	var in Integrator
	var sum uint64
	exact := new(big.Int)
	watts := []float64{187.5, 0.0000013, 41.3333333, 300, 7.25}
	dts := []time.Duration{time.Second, 333_333_333, 1, 999_999_937, 17 * time.Millisecond, 3 * time.Hour}
	for step := range 1000 {
		w, dt := watts[step%len(watts)], dts[step%len(dts)]
		d := in.Add(w, dt)
		sum += d
		exact.Add(exact, new(big.Int).Mul(new(big.Int).SetUint64(Microwatts(w)), big.NewInt(int64(dt))))
		want := new(big.Int).Quo(exact, big.NewInt(1e9)).Uint64()
		if sum != want || in.TotalUJ() != want {
			t.Fatalf("step %d: Σ deltas %d, TotalUJ %d, want %d", step, sum, in.TotalUJ(), want)
		}
	}
}

func TestIntegratorByHand(t *testing.T) {
	var in Integrator
	// 187.5 W for 1 s = 187.5 J.
	if d := in.Add(187.5, time.Second); d != 187_500_000 {
		t.Fatalf("187.5 W × 1 s = %d µJ, want 187500000", d)
	}
	// 1 W for 0.5 µs, three times: 0.5 µJ each; the carry gives 0, 1, 0.
	got := []uint64{in.Add(1, 500), in.Add(1, 500), in.Add(1, 500)}
	if got[0] != 0 || got[1] != 1 || got[2] != 0 {
		t.Fatalf("carried halves = %v, want [0 1 0]", got)
	}
}

func TestIntegratorNeverNegativeNorWraps(t *testing.T) {
	var in Integrator
	for _, tc := range []struct {
		w  float64
		dt time.Duration
	}{{-5, time.Second}, {math.NaN(), time.Second}, {10, -time.Second}, {10, 0}} {
		if d := in.Add(tc.w, tc.dt); d != 0 {
			t.Errorf("Add(%v, %v) = %d, want 0", tc.w, tc.dt, d)
		}
	}
	before := in.TotalUJ()
	d := in.Add(math.Inf(1), math.MaxInt64)
	if in.TotalUJ() != math.MaxUint64 || d != math.MaxUint64-before {
		t.Fatalf("saturating step: total %d, delta %d", in.TotalUJ(), d)
	}
	if d := in.Add(1e9, time.Hour); d != 0 || in.TotalUJ() != math.MaxUint64 {
		t.Fatalf("after saturation: delta %d, total %d", d, in.TotalUJ())
	}
	// Large but not saturating: 10 kW for a year is about 3.2e17 µJ.
	var big2 Integrator
	year := time.Duration(365 * 24 * time.Hour)
	if d := big2.Add(10_000, year); d != 10_000*uint64(year/time.Microsecond) {
		t.Fatalf("10 kW × 1 year = %d µJ, want %d", d, 10_000*uint64(year/time.Microsecond))
	}
}
