package meter

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestOpen(t *testing.T) {
	powercap := expandTree(t, "two-sockets.tree")
	h := newFakeHost(t, 2)
	writeMSR(t, h.msrRoot, "0", map[int64]uint64{msrAMDPowerUnit: amdUnit, msrAMDPkgEnergy: 1})
	useFakeDefaults(t, h.sysRoot, filepath.Join("testdata", "cpuinfo", "amd-epyc"))
	missing := filepath.Join(t.TempDir(), "missing")

	tests := []struct {
		name, kind, powercap, msr string
		want                      string // meter name
	}{
		{"auto prefers powercap", "auto", powercap, h.msrRoot, "powercap"},
		{"empty kind is auto", "", powercap, h.msrRoot, "powercap"},
		{"auto falls back to msr", "auto", missing, h.msrRoot, "msr"},
		{"powercap", "powercap", powercap, missing, "powercap"},
		{"msr even with powercap present", "msr", powercap, h.msrRoot, "msr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Open(tt.kind, tt.powercap, tt.msr)
			if err != nil {
				t.Fatal(err)
			}
			if m.Name() != tt.want {
				t.Fatalf("Open(%q) = %s meter, want %s", tt.kind, m.Name(), tt.want)
			}
			if _, err := m.Read(); err != nil {
				t.Fatal(err)
			}
			if c, ok := m.(interface{ Close() error }); ok {
				c.Close()
			}
		})
	}
}

// Unreadable energy_uj (CVE-2020-8694 permissions) falls back to MSR.
func TestOpenAutoFallsBackWhenUnreadable(t *testing.T) {
	powercap := expandTree(t, "one-socket.tree")
	h := newFakeHost(t, 2)
	writeMSR(t, h.msrRoot, "0", map[int64]uint64{msrIntelPowerUnit: intelUnit, msrIntelPkgEnergy: 1})
	useFakeDefaults(t, h.sysRoot, filepath.Join("testdata", "cpuinfo", "intel-tigerlake"))
	old := powercapOpen
	powercapOpen = func(name string) (*os.File, error) {
		if filepath.Base(name) == "energy_uj" {
			return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EACCES}
		}
		return os.Open(name)
	}
	t.Cleanup(func() { powercapOpen = old })

	m, err := Open("auto", powercap, h.msrRoot)
	if err != nil {
		t.Fatal(err)
	}
	defer m.(*MSR).Close()
	if m.Name() != "msr" {
		t.Fatalf("got %s meter, want msr", m.Name())
	}
	if _, err := Open("powercap", powercap, h.msrRoot); err == nil || !strings.Contains(err.Error(), "CVE-2020-8694") {
		t.Fatalf("Open(powercap) error = %v, want the CVE-2020-8694 explanation", err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	useFakeDefaults(t, filepath.Join(dir, "sys"), filepath.Join(dir, "cpuinfo"))
	pc, msr := filepath.Join(dir, "powercap"), filepath.Join(dir, "dev-cpu")

	_, err := Open("auto", pc, msr)
	if err == nil {
		t.Fatal("Open(auto) with nothing readable succeeded")
	}
	for _, w := range []string{pc, msr, "root", "CVE-2020-8694", "modprobe msr", "intel_rapl_common"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}

	if _, err := Open("rapl", pc, msr); err == nil || !strings.Contains(err.Error(), `unknown kind "rapl"`) {
		t.Errorf("Open(rapl) error = %v, want unknown kind", err)
	}
	m, err := Open("powercap", pc, msr)
	if err == nil || !strings.Contains(err.Error(), pc) {
		t.Errorf("Open(powercap) error = %v, want it to name %s", err, pc)
	}
	if m != nil {
		t.Errorf("Open(powercap) failed but returned a non-nil Meter %#v", m)
	}
	m, err = Open("msr", pc, msr)
	if err == nil || !strings.Contains(err.Error(), "modprobe msr") {
		t.Errorf("Open(msr) error = %v, want the modprobe msr hint", err)
	}
	if m != nil {
		t.Errorf("Open(msr) failed but returned a non-nil Meter %#v", m)
	}
}
