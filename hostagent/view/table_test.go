package view

import (
	"strings"
	"testing"
)

// TestWriteTable: one row per domain by name, then the host's share
// (measured − Σ domains) and the measured power, per counted zone.
func TestWriteTable(t *testing.T) {
	h := &Host{
		Zones:      []string{"package", "dram"},
		HostPowerW: map[string]float64{"package": 100, "dram": 10},
		Domains: []Domain{
			{Name: "web", State: "running", VCPUs: 4, CPUShare: 0.25, PowerW: []float64{30, 3}},
			{Name: "db", State: "running", VCPUs: 2, CPUShare: 0.125, PowerW: []float64{20, 2}},
		},
	}
	var b strings.Builder
	if err := WriteTable(&b, h); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d lines, want 5:\n%s", len(lines), b.String())
	}
	for i, want := range [][]string{
		{"DOMAIN", "package_W", "dram_W"},
		{"db", "12.5", "20.00", "2.00"},
		{"web", "25.0", "30.00", "3.00"},
		{"(host share)", "50.00", "5.00"},
		{"(measured)", "100.00", "10.00"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("line %d %q lacks %q", i, lines[i], w)
			}
		}
	}
	h.Method, h.Model = "estimated", "tdp"
	b.Reset()
	if err := WriteTable(&b, h); err != nil {
		t.Fatal(err)
	}
	if last := lastLine(b.String()); !strings.Contains(last, "(estimated, tdp)") || !strings.Contains(last, "100.00") {
		t.Errorf("an estimated host's power row is %q", last)
	}
	if err := WriteTable(&b, nil); err == nil {
		t.Error("no error for no reading")
	}
}

func lastLine(s string) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return l[len(l)-1]
}
