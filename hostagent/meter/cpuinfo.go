package meter

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/virtwatt/virtwatt/internal/procinfo"
	"github.com/virtwatt/virtwatt/internal/regfile"
)

// Vendors accepted by MSROptions.Vendor.
const (
	VendorIntel = "intel"
	VendorAMD   = "amd"
)

// cpuID is what the MSR meter needs from /proc/cpuinfo.
type cpuID struct {
	vendor string // VendorIntel, VendorAMD or "" when unknown
	family int
	model  int
}

// readCPUInfo is the vendor, family and model of the first processor of a
// cpuinfo file (internal/procinfo reads it). Hygon (an AMD licensee) uses
// AMD's RAPL registers and reads as VendorAMD; a family or model the file
// does not give is -1.
func readCPUInfo(path string) (cpuID, error) {
	c, err := procinfo.ReadCPUFile(path)
	if err != nil {
		return cpuID{}, err
	}
	id := cpuID{family: c.Family, model: c.Model}
	switch c.VendorID {
	case "GenuineIntel":
		id.vendor = VendorIntel
	case "AuthenticAMD", "HygonGenuine":
		id.vendor = VendorAMD
	}
	return id, nil
}

// intelDRAMFixedUnit reports whether an Intel model's DRAM counter uses the
// fixed 2^-16 J (15.3 µJ) unit instead of the one in MSR_RAPL_POWER_UNIT:
// Xeon server parts from Haswell-EP to Emerald Rapids and Xeon Phi, the list
// Linux's perf RAPL driver (arch/x86/events/rapl.c, RAPL_UNIT_QUIRK_INTEL_HSW
// and _SPR) applies.
func intelDRAMFixedUnit(id cpuID) bool {
	if id.vendor != VendorIntel || id.family != 6 {
		return false
	}
	switch id.model {
	case 0x3F, // Haswell-X
		0x4F, // Broadwell-X
		0x56, // Broadwell-D
		0x57, // Xeon Phi Knights Landing
		0x85, // Xeon Phi Knights Mill
		0x55, // Skylake-X, Cascade Lake, Cooper Lake
		0x6A, // Ice Lake-X
		0x6C, // Ice Lake-D
		0x8F, // Sapphire Rapids-X
		0xCF: // Emerald Rapids-X
		return true
	}
	return false
}

// socketCPU is the CPU whose MSR file is read for one package.
type socketCPU struct {
	socket int
	cpu    int
}

// packageCPUs returns the lowest-numbered CPU of each physical package, read
// from <sysCPURoot>/cpuN/topology/physical_package_id, ordered by package.
// When that tree is absent or holds no topology it returns CPU 0 as
// socket 0.
func packageCPUs(sysCPURoot string) []socketCPU {
	entries, err := os.ReadDir(sysCPURoot)
	if err != nil {
		return []socketCPU{{socket: 0, cpu: 0}}
	}
	first := map[int]int{} // package → lowest cpu
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), "cpu")
		if !ok {
			continue
		}
		cpu, err := strconv.Atoi(rest)
		if err != nil || cpu < 0 {
			continue
		}
		b, err := regfile.ReadFile(filepath.Join(sysCPURoot, e.Name(), "topology", "physical_package_id"), 64, 0)
		if err != nil {
			continue // offline CPUs have no topology
		}
		pkg, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pkg < 0 {
			continue
		}
		if c, seen := first[pkg]; !seen || cpu < c {
			first[pkg] = cpu
		}
	}
	if len(first) == 0 {
		return []socketCPU{{socket: 0, cpu: 0}}
	}
	out := make([]socketCPU, 0, len(first))
	for pkg, cpu := range first {
		out = append(out, socketCPU{socket: pkg, cpu: cpu})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].socket < out[j].socket })
	return out
}
