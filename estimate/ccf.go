package estimate

import (
	_ "embed"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// The Cloud Carbon Footprint (CCF) compute model, for a VM that has no
// measurement: per vCPU, P = min + (max − min) × utilization, with min and
// max watts by CPU microarchitecture (CCF derives them from the SPECpower
// database), plus memory at a fixed W/GB. The coefficients are CCF's
// Azure table (the one with the widest CPU list that falls back to an
// average, not a median), embedded as data/ccf_coefficients.csv; its
// "Unknown" row is CCF's MIN_WATTS_AVG / MAX_WATTS_AVG, what CCF uses when
// it does not know the microarchitecture.
const (
	CCFSource = "Cloud Carbon Footprint, @cloud-carbon-footprint/azure 1.8.0 (AzureFootprintEstimationConstants.ts, SPECpower-derived)"
	CCFYear   = 2021
	// CCFMemoryWattsPerGB is CCF's MEMORY_COEFFICIENT, 0.000392 kWh per
	// GB-hour: the mean of Crucial's ~0.375 W/GB and Micron's ~0.4083 W/GB
	// for DDR4 (CCF methodology, 2021).
	CCFMemoryWattsPerGB = 0.392
)

// Microarchitecture names, as CCF's COMPUTE_PROCESSOR_TYPES spells them.
const (
	CCFCascadeLake = "Cascade Lake"
	CCFSkylake     = "Skylake"
	CCFBroadwell   = "Broadwell"
	CCFHaswell     = "Haswell"
	CCFCoffeeLake  = "Coffee Lake"
	CCFSandyBridge = "Sandy Bridge"
	CCFIvyBridge   = "Ivy Bridge"
	CCFEPYC1       = "AMD EPYC 1st Gen"
	CCFEPYC2       = "AMD EPYC 2nd Gen"
	CCFEPYC3       = "AMD EPYC 3rd Gen"
	CCFUnknown     = "Unknown" // CCF's average across microarchitectures
)

// CCFCoefficients are one microarchitecture's per-vCPU watts.
type CCFCoefficients struct {
	Microarchitecture  string
	MinWatts, MaxWatts float64 // per vCPU, idle and fully busy
}

//go:embed data/ccf_coefficients.csv
var ccfCSV []byte

var loadCCF = sync.OnceValues(func() (map[string]CCFCoefficients, error) {
	return parseCCF(namedData{name: "data/ccf_coefficients.csv", b: ccfCSV})
})

func parseCCF(d namedData) (map[string]CCFCoefficients, error) {
	rows, err := readCSV(d, "microarchitecture", "min_watts_per_vcpu", "max_watts_per_vcpu")
	if err != nil {
		return nil, err
	}
	out := make(map[string]CCFCoefficients, len(rows))
	for i, row := range rows {
		c := CCFCoefficients{Microarchitecture: row["microarchitecture"]}
		c.MinWatts, err = strconv.ParseFloat(row["min_watts_per_vcpu"], 64)
		if err == nil {
			c.MaxWatts, err = strconv.ParseFloat(row["max_watts_per_vcpu"], 64)
		}
		if err != nil || !(c.MinWatts > 0) || !(c.MaxWatts >= c.MinWatts) || c.MaxWatts > 100 {
			return nil, fmt.Errorf("embedded %s: line %d (%s): watts must be numbers with 0 < min <= max <= 100", d.name, i+2, c.Microarchitecture)
		}
		out[c.Microarchitecture] = c
	}
	if _, ok := out[CCFUnknown]; !ok {
		return nil, fmt.Errorf("embedded %s: no %q row (CCF's average)", d.name, CCFUnknown)
	}
	return out, nil
}

// CCFFor returns the coefficients of a microarchitecture, and false with
// CCF's average (the "Unknown" row) when the table has none for it.
func CCFFor(microarchitecture string) (CCFCoefficients, bool, error) {
	t, err := loadCCF()
	if err != nil {
		return CCFCoefficients{}, false, err
	}
	if c, ok := t[microarchitecture]; ok && microarchitecture != CCFUnknown {
		return c, true, nil
	}
	return t[CCFUnknown], false, nil
}

// CCFCPUWatts is CCF's compute power of vcpus vCPUs at utilization u
// (0..1; clamped, NaN reads as 0): vcpus × (min + (max − min) × u).
func CCFCPUWatts(c CCFCoefficients, vcpus int, u float64) float64 {
	if !(u > 0) {
		u = 0
	}
	u = math.Min(u, 1)
	return float64(max(vcpus, 0)) * (c.MinWatts + (c.MaxWatts-c.MinWatts)*u)
}

// CCFMemoryWatts is CCF's memory power for bytes of memory, at
// CCFMemoryWattsPerGB per GB of 2^30 bytes (the GiB CodeCarbon's
// ram_total_size and cloud providers' memory sizes use).
func CCFMemoryWatts(bytes uint64) float64 {
	return float64(bytes) / (1 << 30) * CCFMemoryWattsPerGB
}

// CCFMicroarchitecture recognises the CCF microarchitecture of a CPU from
// what /proc/cpuinfo says of it: vendor_id, cpu family, model, stepping
// (-1 when unknown) and model name. Intel parts are recognised by family
// and model (Linux's intel-family.h numbers; Skylake-SP and Cascade Lake
// share model 85 and differ by stepping), then by the microarchitecture
// QEMU's named CPU models put in their model name ("Intel Xeon Processor
// (Cascadelake)"); AMD EPYC parts by the generation digit of their model
// number (EPYC 7xx1, 7xx2, 7xx3), QEMU's "EPYC-Rome"/"EPYC-Milan" names,
// then family and model. Anything else is CCFUnknown.
func CCFMicroarchitecture(vendorID string, family, model, stepping int, modelName string) string {
	name := strings.ToLower(modelName)
	switch vendorID {
	case "GenuineIntel":
		if a := intelByModel(family, model, stepping); a != "" {
			return a
		}
		return intelByName(name)
	case "AuthenticAMD":
		if strings.Contains(name, "epyc") {
			return epycGeneration(name, family, model)
		}
		return CCFUnknown
	}
	// No vendor_id (not x86, or a stripped file): only a name can tell.
	if a := intelByName(name); a != CCFUnknown {
		return a
	}
	if strings.Contains(name, "epyc") {
		return epycGeneration(name, -1, -1)
	}
	return CCFUnknown
}

func intelByModel(family, model, stepping int) string {
	if family != 6 {
		return ""
	}
	switch model {
	case 0x2A, 0x2D: // SANDYBRIDGE, SANDYBRIDGE_X
		return CCFSandyBridge
	case 0x3A, 0x3E: // IVYBRIDGE, IVYBRIDGE_X
		return CCFIvyBridge
	case 0x3C, 0x3F, 0x45, 0x46: // HASWELL, _X, _L, _G
		return CCFHaswell
	case 0x3D, 0x47, 0x4F, 0x56: // BROADWELL, _G, _X, _D
		return CCFBroadwell
	case 0x4E, 0x5E: // SKYLAKE_L, SKYLAKE
		return CCFSkylake
	case 0x55: // SKYLAKE_X: Skylake-SP steppings 0-4, Cascade Lake 5-7, Cooper Lake 10-11
		switch {
		case stepping >= 0 && stepping <= 4:
			return CCFSkylake
		case stepping >= 5 && stepping <= 7:
			return CCFCascadeLake
		}
	case 0x9E: // KABYLAKE: steppings 10-13 are Coffee Lake (S/H, Xeon E-2100/2200)
		if stepping >= 10 && stepping <= 13 {
			return CCFCoffeeLake
		}
	}
	return ""
}

// qemuIntel maps the microarchitecture in a model name, spaces removed, to
// CCF's (QEMU's named models: "Intel Xeon E312xx (Sandy Bridge)", "Intel
// Core Processor (Haswell, no TSX)", "Intel Xeon Processor (Cascadelake)").
var qemuIntel = []struct{ key, arch string }{
	{"sandybridge", CCFSandyBridge},
	{"ivybridge", CCFIvyBridge},
	{"haswell", CCFHaswell},
	{"broadwell", CCFBroadwell},
	{"cascadelake", CCFCascadeLake},
	{"skylake", CCFSkylake},
	{"coffeelake", CCFCoffeeLake},
}

func intelByName(name string) string {
	flat := strings.ReplaceAll(name, " ", "")
	for _, q := range qemuIntel {
		if strings.Contains(flat, q.key) {
			return q.arch
		}
	}
	return CCFUnknown
}

// epycNumber is an EPYC model number: series digit, two characters, and the
// generation digit (7R32: Rome; 7B13, 72F3: Milan; 3251: Naples).
var epycNumber = regexp.MustCompile(`epyc\s+[37][0-9a-z]{2}([0-9])\b`)

func epycGeneration(name string, family, model int) string {
	if m := epycNumber.FindStringSubmatch(name); m != nil {
		switch m[1] {
		case "1":
			return CCFEPYC1
		case "2":
			return CCFEPYC2
		case "3":
			return CCFEPYC3
		}
		return CCFUnknown
	}
	switch {
	case strings.Contains(name, "epyc-naples"):
		return CCFEPYC1
	case strings.Contains(name, "epyc-rome"):
		return CCFEPYC2
	case strings.Contains(name, "epyc-milan"):
		return CCFEPYC3
	case family == 0x17 && model == 0x01: // Zen (Naples), also QEMU's plain "AMD EPYC Processor"
		return CCFEPYC1
	case family == 0x17 && model == 0x31: // Zen 2 (Rome)
		return CCFEPYC2
	case family == 0x19 && model == 0x01: // Zen 3 (Milan)
		return CCFEPYC3
	}
	return CCFUnknown
}
