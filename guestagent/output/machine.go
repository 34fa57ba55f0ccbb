package output

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
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
	if b, err := readHead(filepath.Join(procRoot, "cpuinfo"), 64<<10); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := readHead(filepath.Join(procRoot, "meminfo"), 4<<10); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) >= 2 && f[0] == "MemTotal:" {
				if kb, err := strconv.ParseUint(f[1], 10, 64); err == nil {
					m.RAMTotalGB = float64(kb) / (1 << 20)
				}
				break
			}
		}
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

// readHead reads at most n bytes of a file.
func readHead(path string, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, n)
	k, err := f.Read(buf)
	if k > 0 {
		return buf[:k], nil
	}
	return nil, err
}
