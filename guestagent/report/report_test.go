package report

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/virtwatt/virtwatt/guestagent/measure"
)

func grams(b Breakdown) map[string]float64 {
	m := map[string]float64{}
	for _, p := range b.Parts {
		m[p.Name] = p.Grams
	}
	return m
}

// TestParts: every gram of the sample's emissions and embodied figure is
// in exactly one row, in BLOOM's order, with percents of their sum.
func TestParts(t *testing.T) {
	tests := []struct {
		name  string
		s0    measure.Sample
		s1    measure.Sample
		order []string
		want  map[string]float64
	}{
		{"record", measure.Sample{}, measure.Sample{
			EmissionsGrams: 7.5, EmissionsPartGrams: map[string]float64{"dynamic": 5, "idle": 2.5}, EmbodiedGrams: 2.5,
		}, []string{"embodied", "dynamic", "idle"}, map[string]float64{"embodied": 2.5, "dynamic": 5, "idle": 2.5}},
		{"between", measure.Sample{
			EmissionsPartGrams: map[string]float64{"dynamic": 1, "idle": 0.5}, EmbodiedGrams: 0.25,
		}, measure.Sample{
			EmissionsPartGrams: map[string]float64{"dynamic": 4, "idle": 1.5}, EmbodiedGrams: 1.25,
		}, []string{"embodied", "dynamic", "idle"}, map[string]float64{"embodied": 1, "dynamic": 3, "idle": 1}},
		{"a tree read first: unsplit last", measure.Sample{}, measure.Sample{
			EmissionsPartGrams: map[string]float64{"dynamic": 3, "idle": 1, "unsplit": 2}, EmbodiedGrams: 2,
		}, []string{"embodied", "dynamic", "idle", "unsplit"}, map[string]float64{"embodied": 2, "dynamic": 3, "idle": 1, "unsplit": 2}},
		{"a sampler that does not split", measure.Sample{EmissionsGrams: 1}, measure.Sample{EmissionsGrams: 4},
			[]string{"embodied", "dynamic", "idle", "unsplit"}, map[string]float64{"embodied": 0, "dynamic": 0, "idle": 0, "unsplit": 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := Between(tt.s0, tt.s1)
			var names []string
			var total, pct float64
			for _, p := range b.Parts {
				names = append(names, p.Name)
				total += tt.want[p.Name]
			}
			if strings.Join(names, ",") != strings.Join(tt.order, ",") {
				t.Fatalf("rows %v, want %v", names, tt.order)
			}
			for _, p := range b.Parts {
				if p.Grams != tt.want[p.Name] || p.Percent == nil || math.Abs(*p.Percent-100*tt.want[p.Name]/total) > 1e-12 {
					t.Fatalf("%s: %v g, %v %%; want %v g of %v", p.Name, p.Grams, p.Percent, tt.want[p.Name], total)
				}
				pct += *p.Percent
			}
			if b.TotalGrams != total || math.Abs(pct-100) > 1e-9 {
				t.Fatalf("total %v (want %v), percents sum to %v", b.TotalGrams, total, pct)
			}
		})
	}
}

// TestNothingYet: a total of 0 gives no percents (no 0/0 and no NaN in
// the JSON), and the text says "-".
func TestNothingYet(t *testing.T) {
	b := From(measure.Sample{Mode: "record", EnergyUJ: map[string]uint64{}})
	for _, p := range b.Parts {
		if p.Percent != nil {
			t.Fatalf("%s: percent %v of nothing", p.Name, *p.Percent)
		}
	}
	var out bytes.Buffer
	if err := b.WriteJSON(&out); err != nil || !json.Valid(out.Bytes()) {
		t.Fatalf("JSON %v: %s", err, out.String())
	}
	out.Reset()
	b.WriteText(&out, "")
	if !strings.Contains(out.String(), "total      0                    -") ||
		!strings.Contains(out.String(), "(the host gives no embodied figure)") {
		t.Fatalf("text:\n%s", out.String())
	}
}

// TestScaled: a command's share scales every part's grams and energy; the
// percents stay.
func TestScaled(t *testing.T) {
	b := From(measure.Sample{
		EmissionsPartGrams: map[string]float64{"dynamic": 6, "idle": 2},
		EnergyPartUJ:       map[string]uint64{"dynamic": 6_000_000, "idle": 2_000_000},
		EmbodiedGrams:      2,
	})
	c := b.Scaled(0.25, ScopeCommand, "the command")
	if c.Scope != ScopeCommand || c.TotalGrams != 2.5 || b.TotalGrams != 10 {
		t.Fatalf("scaled total %v (of %v), scope %q", c.TotalGrams, b.TotalGrams, c.Scope)
	}
	for i, p := range c.Parts {
		if p.Grams != b.Parts[i].Grams/4 || *p.Percent != *b.Parts[i].Percent {
			t.Fatalf("%s: %v g %v %%, from %v g %v %%", p.Name, p.Grams, *p.Percent, b.Parts[i].Grams, *b.Parts[i].Percent)
		}
		if p.Name == "dynamic" && *p.EnergyJ != 1.5 {
			t.Fatalf("dynamic energy %v J, want 1.5", *p.EnergyJ)
		}
	}
}
