package output

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/virtwatt/virtwatt/internal/procinfo"
)

// DetectMachine describes the guest from <procRoot> the way CodeCarbon
// describes its machine: os ("Linux-<release>-<arch>"), cpu_count (the
// CPUs this process may use), cpu_model (/proc/cpuinfo "model name") and
// ram_total_size in GB (/proc/meminfo MemTotal, GiB like CodeCarbon).
// What cannot be read is left empty.
func DetectMachine(procRoot string) Machine {
	if procRoot == "" {
		procRoot = "/proc"
	}
	m := Machine{CPUCount: runtime.NumCPU()}
	m.OS = strings.ToUpper(runtime.GOOS[:1]) + runtime.GOOS[1:]
	if b, err := os.ReadFile(filepath.Join(procRoot, "sys", "kernel", "osrelease")); err == nil {
		m.OS += "-" + strings.TrimSpace(string(b))
	}
	m.OS += "-" + unameMachine(runtime.GOARCH)
	if c, err := procinfo.ReadCPU(procRoot); err == nil {
		m.CPUModel = c.ModelName
	}
	if b, err := procinfo.MemTotalBytes(procRoot); err == nil {
		m.RAMTotalGB = float64(b) / (1 << 30)
	}
	return m
}

func unameMachine(goarch string) string {
	switch goarch {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	case "386":
		return "i686"
	}
	return goarch
}
