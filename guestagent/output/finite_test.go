package output

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/virtwatt/virtwatt/guestagent/measure"
)

// TestJSONLNeverInfNaN: a figure that is not finite is left out of the
// line; the line is still written and parses (encoding/json refuses Inf
// and NaN, which used to lose every line for good).
func TestJSONLNeverInfNaN(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	j, err := NewJSONL(path)
	if err != nil {
		t.Fatal(err)
	}
	s := measure.Sample{
		Time: t0, Up: true, Mode: "record",
		EnergyUJ:       map[string]uint64{"package": math.MaxUint64, "dram": math.MaxUint64},
		PowerW:         map[string]float64{"package": math.Inf(1), "dram": math.NaN()},
		EmissionsGrams: math.Inf(1), WaterLiters: math.NaN(), EmbodiedGrams: math.Inf(1), EmbodiedSource: "host",
		IntensityGPerKWh: math.Inf(1), PUE: math.NaN(), WUE: math.Inf(-1),
	}
	if err := j.Emit(context.Background(), s); err != nil {
		t.Fatalf("Emit: %v", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(string(b))
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatalf("line %q does not parse: %v", line, err)
	}
	for _, k := range []string{"emissions_grams", "water_liters", "embodied_grams", "power_watts", "power_watts_total"} {
		if _, ok := m[k]; ok {
			t.Errorf("%s present in %s", k, line)
		}
	}
	// 2 × (2^64-1) µJ: the total saturates, never wraps to a small value.
	if e, _ := m["energy_joules"].(float64); e < float64(math.MaxUint64)/1e6*0.99 {
		t.Errorf("energy_joules = %v, want the saturated total", m["energy_joules"])
	}
	if w := NewRecord(s).PUE; w != 0 {
		t.Errorf("pue = %v, want 0 in place of NaN", w)
	}
}
