package procinfo

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func write(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadCPU(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       CPU
		err        string
	}{
		{"x86, two processors", "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\nmodel name\t: Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz\nstepping\t: 7\n\nprocessor\t: 1\nvendor_id\t: AuthenticAMD\nmodel name\t: other\n",
			CPU{VendorID: "GenuineIntel", Family: 6, Model: 85, Stepping: 7, ModelName: "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz"}, ""},
		{"arm64: no vendor or model name", "processor\t: 0\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\n\n", CPU{Family: -1, Model: -1, Stepping: -1}, ""},
		{"leading blank lines, bad numbers", "\n\nvendor_id : AuthenticAMD\ncpu family : x\nmodel : -3\n", CPU{VendorID: "AuthenticAMD", Family: -1, Model: -1, Stepping: -1}, ""},
		{"empty", "", CPU{}, "no \"key : value\" line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, "cpuinfo", tc.body)
			got, err := ReadCPU(dir)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "cpuinfo") {
					t.Fatalf("err = %v, want %q naming the file", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ReadCPU = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestMemTotalBytes(t *testing.T) {
	for _, tc := range []struct {
		body string
		want uint64
		ok   bool
	}{
		{"MemTotal:        8388608 kB\nMemFree: 1 kB\n", 8 << 30, true},
		{"MemFree: 1 kB\nMemTotal: 1024 kB\n", 1 << 20, true},
		{"MemFree: 1 kB\n", 0, false},
		{"MemTotal: lots kB\n", 0, false},
		{"MemTotal: 5 MB\n", 0, false},
		{"MemTotal: 18446744073709551615 kB\n", 0, false}, // would overflow in bytes
	} {
		dir := t.TempDir()
		write(t, dir, "meminfo", tc.body)
		got, err := MemTotalBytes(dir)
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("%q: %d, %v; want %d ok=%v", tc.body, got, err, tc.want, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "meminfo") {
			t.Errorf("%q: error %v does not name the file", tc.body, err)
		}
	}
}

func TestFIFONeverBlocks(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"cpuinfo", "meminfo"} {
		if err := syscall.Mkfifo(filepath.Join(dir, name), 0o644); err != nil {
			t.Skip("mkfifo:", err)
		}
	}
	if _, err := ReadCPU(dir); err == nil {
		t.Error("ReadCPU read a FIFO")
	}
	if _, err := MemTotalBytes(dir); err == nil {
		t.Error("MemTotalBytes read a FIFO")
	}
}

// ReadCPUFile reads a cpuinfo file by its own path (the MSR meter's
// option), as ReadCPU reads <root>/cpuinfo; a missing file is
// fs.ErrNotExist.
func TestReadCPUFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "xeon.cpuinfo")
	if err := os.WriteFile(p, []byte("processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\nmodel name\t: Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz\n\nprocessor\t: 1\nvendor_id\t: AuthenticAMD\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := ReadCPUFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := (CPU{VendorID: "GenuineIntel", Family: 6, Model: 85, Stepping: -1, ModelName: "Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz"}); c != want {
		t.Fatalf("ReadCPUFile = %+v, want %+v", c, want)
	}
	if _, err := ReadCPUFile(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: err %v, want fs.ErrNotExist", err)
	}
}
