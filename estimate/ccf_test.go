package estimate

import (
	"math"
	"strings"
	"testing"
)

func TestCCFMicroarchitecture(t *testing.T) {
	for _, tc := range []struct {
		vendor                  string
		family, model, stepping int
		name, want              string
	}{
		{"GenuineIntel", 6, 85, 7, "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz", CCFCascadeLake},
		{"GenuineIntel", 6, 85, 4, "Intel(R) Xeon(R) Platinum 8168 CPU @ 2.70GHz", CCFSkylake},
		{"GenuineIntel", 6, 85, 11, "Intel(R) Xeon(R) Platinum 8380HL CPU @ 2.90GHz", CCFUnknown}, // Cooper Lake: not in CCF
		{"GenuineIntel", 6, 79, 1, "Intel(R) Xeon(R) CPU E5-2686 v4 @ 2.30GHz", CCFBroadwell},
		{"GenuineIntel", 6, 63, 2, "Intel(R) Xeon(R) CPU E5-2676 v3 @ 2.40GHz", CCFHaswell},
		{"GenuineIntel", 6, 62, 4, "Intel(R) Xeon(R) CPU E5-2670 v2 @ 2.50GHz", CCFIvyBridge},
		{"GenuineIntel", 6, 45, 7, "Intel(R) Xeon(R) CPU E5-2670 0 @ 2.60GHz", CCFSandyBridge},
		{"GenuineIntel", 6, 158, 10, "Intel(R) Xeon(R) E-2176G CPU @ 3.70GHz", CCFCoffeeLake},
		{"GenuineIntel", 6, 158, 9, "Intel(R) Core(TM) i7-7700 CPU @ 3.60GHz", CCFUnknown},       // Kaby Lake
		{"GenuineIntel", 6, 106, 6, "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", CCFUnknown}, // Ice Lake: no CCF figures
		// QEMU named models: their family/model, and their name as a fallback.
		{"GenuineIntel", 6, 85, 6, "Intel Xeon Processor (Cascadelake)", CCFCascadeLake},
		{"GenuineIntel", 6, 85, -1, "Intel Xeon Processor (Cascadelake)", CCFCascadeLake},
		{"GenuineIntel", 6, 85, -1, "Intel Xeon Processor (Skylake, IBRS)", CCFSkylake},
		{"GenuineIntel", 15, 107, 1, "Intel Core Processor (Haswell, no TSX)", CCFHaswell},
		{"GenuineIntel", 6, 6, 3, "QEMU Virtual CPU version 2.5+", CCFUnknown},
		{"AuthenticAMD", 25, 1, 1, "AMD EPYC 7763 64-Core Processor", CCFEPYC3},
		{"AuthenticAMD", 23, 49, 0, "AMD EPYC 7R32", CCFEPYC2},
		{"AuthenticAMD", 23, 1, 2, "AMD EPYC 7601 32-Core Processor", CCFEPYC1},
		{"AuthenticAMD", 25, 1, 1, "AMD EPYC 7B13", CCFEPYC3},
		{"AuthenticAMD", 25, 17, 1, "AMD EPYC 9654 96-Core Processor", CCFUnknown}, // Genoa: not in CCF
		{"AuthenticAMD", 23, 49, 0, "AMD EPYC-Rome Processor", CCFEPYC2},
		{"AuthenticAMD", 25, 1, 1, "AMD EPYC-Milan Processor", CCFEPYC3},
		{"AuthenticAMD", 23, 1, 2, "AMD EPYC Processor (with IBPB)", CCFEPYC1},
		{"AuthenticAMD", 25, 33, 0, "AMD Ryzen 9 5950X 16-Core Processor", CCFUnknown},
		{"", -1, -1, -1, "", CCFUnknown}, // arm64: no vendor, no model name
	} {
		if got := CCFMicroarchitecture(tc.vendor, tc.family, tc.model, tc.stepping, tc.name); got != tc.want {
			t.Errorf("%s %d/%d/%d %q: %q, want %q", tc.vendor, tc.family, tc.model, tc.stepping, tc.name, got, tc.want)
		}
	}
}

// TestCCFCoefficients checks the embedded table against CCF's published
// Azure constants (AzureFootprintEstimationConstants.ts), a few by hand.
func TestCCFCoefficients(t *testing.T) {
	for _, tc := range []struct {
		arch     string
		min, max float64
		known    bool
	}{
		{CCFCascadeLake, 0.64, 3.97, true},
		{CCFSkylake, 0.65, 4.26, true},
		{CCFEPYC3, 0.45, 2.02, true},
		{CCFSandyBridge, 2.17, 8.58, true},
		{"Ice Lake", 0.74, 3.54, false}, // not in the table: CCF's average
		{CCFUnknown, 0.74, 3.54, false},
	} {
		c, known, err := CCFFor(tc.arch)
		if err != nil {
			t.Fatal(err)
		}
		if c.MinWatts != tc.min || c.MaxWatts != tc.max || known != tc.known {
			t.Errorf("%s: %+v known=%v, want %v/%v known=%v", tc.arch, c, known, tc.min, tc.max, tc.known)
		}
	}
	// Every microarchitecture the recogniser can name has a row.
	for _, a := range []string{CCFCascadeLake, CCFSkylake, CCFBroadwell, CCFHaswell, CCFCoffeeLake,
		CCFSandyBridge, CCFIvyBridge, CCFEPYC1, CCFEPYC2, CCFEPYC3} {
		if _, known, _ := CCFFor(a); !known {
			t.Errorf("%s has no row in data/ccf_coefficients.csv", a)
		}
	}
}

func TestCCFWatts(t *testing.T) {
	c := CCFCoefficients{MinWatts: 0.64, MaxWatts: 3.97}
	for _, tc := range []struct {
		vcpus int
		u     float64
		want  float64
	}{
		{4, 0, 4 * 0.64},
		{4, 0.25, 4 * (0.64 + 3.33*0.25)},
		{2, 1, 2 * 3.97},
		{2, 1.5, 2 * 3.97},        // clamped
		{2, -1, 2 * 0.64},         // clamped
		{2, math.NaN(), 2 * 0.64}, // never NaN
		{-3, 0.5, 0},
	} {
		if got := CCFCPUWatts(c, tc.vcpus, tc.u); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%d vCPUs at %v: %v W, want %v", tc.vcpus, tc.u, got, tc.want)
		}
	}
	if got := CCFMemoryWatts(8 << 30); math.Abs(got-8*0.392) > 1e-12 {
		t.Errorf("8 GiB: %v W, want %v", got, 8*0.392)
	}
}

func TestParseCCFRefusesBadRows(t *testing.T) {
	for _, body := range []string{
		"microarchitecture,min_watts_per_vcpu,max_watts_per_vcpu\nSkylake,0.65,4.26\n",          // no Unknown row
		"microarchitecture,min_watts_per_vcpu,max_watts_per_vcpu\nUnknown,4,1\n",                // min > max
		"microarchitecture,min_watts_per_vcpu,max_watts_per_vcpu\nUnknown,x,1\n",                // not a number
		"microarchitecture,min_watts\nUnknown,1\n",                                              // missing column
		"microarchitecture,min_watts_per_vcpu,max_watts_per_vcpu\nUnknown,0.74,3.54\nX,NaN,1\n", // NaN
	} {
		_, err := parseCCF(namedData{name: "data/ccf_coefficients.csv", b: []byte(body)})
		if err == nil || !strings.Contains(err.Error(), "ccf_coefficients.csv") {
			t.Errorf("%q: err = %v, want one naming the file", body, err)
		}
	}
}
