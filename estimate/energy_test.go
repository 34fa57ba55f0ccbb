package estimate

import (
	"math"
	"testing"
)

func TestKWh(t *testing.T) {
	tests := []struct {
		uj   uint64
		want float64
	}{
		{0, 0},
		{3_600_000_000_000, 1}, // 1 kWh = 3.6e6 J = 3.6e12 µJ
		{1_000_000, 1 / 3.6e6}, // 1 J
		{36_000_000_000, 0.01}, // 10 Wh
		{math.MaxUint64, 18446744073709551615 / 3.6e12},
	}
	for _, tc := range tests {
		if got := KWh(tc.uj); !near(got, tc.want) {
			t.Errorf("KWh(%d) = %v, want %v", tc.uj, got, tc.want)
		}
	}
}

func TestEmissionsGrams(t *testing.T) {
	tests := []struct {
		name              string
		kwh, pue, g, want float64
	}{
		// 1 kWh in France (56.039 g/kWh, OWID 2023) at PUE 1.2: 1 × 1.2 × 56.039.
		{"France PUE 1.2", 1, 1.2, 56.039, 67.2468},
		{"world average, no PUE", 2, 1, 475, 950},
		{"unset PUE is 1", 0.5, 0, 100, 50},
		{"PUE below 1 is 1", 1, 0.5, 100, 100},
		{"NaN PUE is 1", 1, math.NaN(), 100, 100},
		{"negative energy", -1, 1.5, 100, 0},
		{"negative intensity", 1, 1.5, -100, 0},
		{"NaN energy", math.NaN(), 1.5, 100, 0},
	}
	for _, tc := range tests {
		if got := EmissionsGrams(tc.kwh, tc.pue, tc.g); !near(got, tc.want) {
			t.Errorf("%s: EmissionsGrams(%v, %v, %v) = %v, want %v", tc.name, tc.kwh, tc.pue, tc.g, got, tc.want)
		}
	}
}

func TestFranceEndToEnd(t *testing.T) {
	in, err := Resolve(Lookup{Country: "FR"})
	if err != nil {
		t.Fatal(err)
	}
	if got := EmissionsGrams(KWh(3_600_000_000_000), 1.2, in.GPerKWh); !near(got, 67.2468) {
		t.Errorf("1 kWh in France at PUE 1.2 = %v g, want 67.2468", got)
	}
}

func TestWaterLiters(t *testing.T) {
	tests := []struct{ kwh, wue, want float64 }{
		{1, 1.8, 1.8},
		{2.5, 0.2, 0.5},
		{0, 1.8, 0},
		{-1, 1.8, 0},
		{1, -1, 0},
	}
	for _, tc := range tests {
		if got := WaterLiters(tc.kwh, tc.wue); !near(got, tc.want) {
			t.Errorf("WaterLiters(%v, %v) = %v, want %v", tc.kwh, tc.wue, got, tc.want)
		}
	}
}

func TestEmbodiedGramsPerHour(t *testing.T) {
	tests := []struct {
		name                 string
		kg, years, share, gh float64
	}{
		// 1,000 kg over 4 years = 1e6 g / 35,064 h = 28.5193... g/h.
		{"whole host", 1000, 4, 1, 1e6 / 35064},
		{"quarter share", 1000, 4, 0.25, 1e6 / 35064 / 4},
		{"one year", 8766, 1, 1, 1000},
		{"share above 1 clamped", 8766, 1, 3, 1000},
		{"zero lifetime", 1000, 0, 1, 0},
		{"negative lifetime", 1000, -2, 1, 0},
		{"negative share", 1000, 4, -1, 0},
		{"NaN total", math.NaN(), 4, 1, 0},
	}
	for _, tc := range tests {
		if got := EmbodiedGramsPerHour(tc.kg, tc.years, tc.share); !near(got, tc.gh) {
			t.Errorf("%s: EmbodiedGramsPerHour(%v, %v, %v) = %v, want %v", tc.name, tc.kg, tc.years, tc.share, got, tc.gh)
		}
	}
}
