package estimate

import "testing"

func TestCPUTDP(t *testing.T) {
	tests := []struct {
		model string
		watts float64
		ok    bool
	}{
		// Exact names from data/cpu_power.csv.
		{"Intel Xeon Gold 6248", 150, true},
		{"AMD EPYC 7763", 280, true},
		// /proc/cpuinfo spellings.
		{"Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz", 150, true},
		{"Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz", 205, true},
		{"Intel(R) Core(TM) i7-8665U CPU @ 1.90GHz", 15, true},
		{"AMD EPYC 7763 64-Core Processor", 280, true},
		{"AMD Ryzen 9 5950X 16-Core Processor", 105, true},
		{"Intel(R) Xeon(R) CPU E5-2690 v4 @ 2.60GHz", 135, true},
		{"intel xeon gold 6248", 150, true},
		// Typical virtual CPUs and junk: no model number, no match.
		{"Intel Xeon Processor (Skylake, IBRS)", 0, false},
		{"QEMU Virtual CPU version 2.5+", 0, false},
		{"Common KVM processor", 0, false},
		{"", 0, false},
		{"@@@", 0, false},
		// Rows with unparsable TDP upstream ("27.29.5") are skipped.
		{"Intel Celeron 1000A", 0, false},
	}
	for _, tc := range tests {
		w, ok := cpuTDP(tc.model)
		if w != tc.watts || ok != tc.ok {
			t.Errorf("cpuTDP(%q) = %v, %v; want %v, %v", tc.model, w, ok, tc.watts, tc.ok)
		}
	}
}

func BenchmarkCPUTDPFuzzy(b *testing.B) {
	if _, ok := cpuTDP("AMD EPYC 7763 64-Core Processor"); !ok {
		b.Fatal("no match")
	}
	for b.Loop() {
		cpuTDP("AMD EPYC 7763 64-Core Processor")
	}
}
