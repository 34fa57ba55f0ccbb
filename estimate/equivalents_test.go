package estimate

import (
	"math"
	"testing"
)

func TestEquivalentsHandComputed(t *testing.T) {
	// 244.2 g and 1 kWh: 244.2 / (393 / 1.609344) km, 1 / 0.012 charges,
	// 244.2 / 97 h of TV, 244.2 / (60000 / 3652.5) tree-days.
	want := map[string]float64{
		"car_km":             244.2 * 1.609344 / 393,
		"smartphone_charges": 1 / 0.012,
		"tv_hours":           244.2 / 97,
		"tree_days":          244.2 * 3652.5 / 60000,
	}
	got := Equivalents(244.2, 1)
	if len(got) != len(want) {
		t.Fatalf("got %d equivalents, want %d", len(got), len(want))
	}
	for _, e := range got {
		w, ok := want[e.Name]
		if !ok {
			t.Errorf("unexpected equivalent %q", e.Name)
			continue
		}
		if !near(e.Value, w) {
			t.Errorf("%s = %v, want %v", e.Name, e.Value, w)
		}
		if e.Unit == "" || e.Source == "" {
			t.Errorf("%s: empty unit or source: %+v", e.Name, e)
		}
	}
}

func TestEquivalentsLinearAndNonNegative(t *testing.T) {
	inputs := []struct{ grams, kwh float64 }{{0, 0}, {1, 0.01}, {56.039, 1}, {1e6, 2500}}
	for _, in := range inputs {
		one := Equivalents(in.grams, in.kwh)
		three := Equivalents(3*in.grams, 3*in.kwh)
		for i, e := range one {
			if e.Value < 0 || math.IsNaN(e.Value) {
				t.Errorf("Equivalents(%v, %v): %s = %v", in.grams, in.kwh, e.Name, e.Value)
			}
			if !near(three[i].Value, 3*e.Value) {
				t.Errorf("%s not linear: f(3x) = %v, 3 f(x) = %v", e.Name, three[i].Value, 3*e.Value)
			}
		}
	}
	for _, e := range Equivalents(-5, math.Inf(1)) {
		if e.Value != 0 {
			t.Errorf("invalid input: %s = %v, want 0", e.Name, e.Value)
		}
	}
}
