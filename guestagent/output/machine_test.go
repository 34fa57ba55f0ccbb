package output

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDetectMachine(t *testing.T) {
	root := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(root, "sys", "kernel"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "sys", "kernel", "osrelease"), []byte("6.1.0-test\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "cpuinfo"), []byte("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Test CPU @ 2.00GHz\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "meminfo"), []byte("MemTotal:        8388608 kB\nMemFree: 1 kB\n"), 0o644))
	m := DetectMachine(root)
	if !strings.Contains(m.OS, "-6.1.0-test-") {
		t.Errorf("os = %q", m.OS)
	}
	if m.CPUModel != "Intel(R) Xeon(R) Test CPU @ 2.00GHz" {
		t.Errorf("cpu_model = %q", m.CPUModel)
	}
	if m.RAMTotalGB != 8 {
		t.Errorf("ram_total_size = %v, want 8", m.RAMTotalGB)
	}
	if m.CPUCount <= 0 {
		t.Errorf("cpu_count = %d", m.CPUCount)
	}
	empty := DetectMachine(filepath.Join(root, "missing"))
	if empty.CPUModel != "" || empty.RAMTotalGB != 0 {
		t.Errorf("missing proc root: %+v", empty)
	}
}
