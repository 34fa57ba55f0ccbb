package meter

import (
	"errors"
	"io/fs"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	intelUnit = 0x000A0E03 // ESU 14: 61.03515625 µJ
	amdUnit   = 0x000A1003 // ESU 16: 15.2587890625 µJ
)

// fakeHost is a fake /dev/cpu plus /sys/devices/system/cpu: CPUs 0..n-1,
// two per package.
type fakeHost struct {
	msrRoot, sysRoot string
}

func newFakeHost(t *testing.T, cpus int) fakeHost {
	t.Helper()
	h := fakeHost{msrRoot: filepath.Join(t.TempDir(), "cpu"), sysRoot: filepath.Join(t.TempDir(), "sys")}
	for c := 0; c < cpus; c++ {
		writeFile(t, filepath.Join(h.sysRoot, "cpu"+strconv.Itoa(c), "topology", "physical_package_id"), strconv.Itoa(c/2)+"\n")
	}
	// Entries that are not CPUs must be ignored.
	writeFile(t, filepath.Join(h.sysRoot, "cpufreq", "boost"), "1\n")
	writeFile(t, filepath.Join(h.sysRoot, "online"), "0-"+strconv.Itoa(cpus-1)+"\n")
	return h
}

func (h fakeHost) opts(vendor, cpuinfo string) MSROptions {
	ci := filepath.Join("testdata", "cpuinfo", cpuinfo)
	if cpuinfo == "" {
		ci = filepath.Join(h.sysRoot, "no-cpuinfo")
	}
	return MSROptions{Root: h.msrRoot, Vendor: vendor, CPUInfoPath: ci, SysCPURoot: h.sysRoot}
}

func TestMSRDecoding(t *testing.T) {
	type want struct {
		Kind     string
		Socket   int
		Energy   uint64
		MaxRange uint64
		Reg      string
	}
	tests := []struct {
		name    string
		cpuinfo string
		vendor  string
		regs    map[string]map[int64]uint64 // cpu → registers
		wantVen string
		want    []want
	}{
		{
			name:    "intel server, two sockets, fixed DRAM unit",
			cpuinfo: "intel-skylake-x",
			regs: map[string]map[int64]uint64{
				// Upper 32 bits are reserved: set them to check they are masked.
				"0": {msrIntelPowerUnit: intelUnit, msrIntelPkgEnergy: 0xdead_0000_0001_0000, msrIntelDRAMEnergy: 0x4000},
				"2": {msrIntelPowerUnit: intelUnit, msrIntelPkgEnergy: 0xFFFF_FFFF, msrIntelDRAMEnergy: 3},
			},
			wantVen: VendorIntel,
			want: []want{
				{KindPackage, 0, 0x10000 * 1_000_000 / 16384, 1 << 18 * 1_000_000, "0/msr@0x611"}, // 4 000 000 µJ
				{KindDRAM, 0, 0x4000 * 1_000_000 / 65536, 1 << 16 * 1_000_000, "0/msr@0x619"},     // 250 000 µJ
				{KindPackage, 1, 262143999938, 1 << 18 * 1_000_000, "2/msr@0x611"},                // floor(2^18·10^6 − 61.035…)
				{KindDRAM, 1, 45, 1 << 16 * 1_000_000, "2/msr@0x619"},                             // floor(45.776…)
			},
		},
		{
			name:    "intel client, DRAM counter zero means absent",
			cpuinfo: "intel-tigerlake",
			regs: map[string]map[int64]uint64{
				"0": {msrIntelPowerUnit: intelUnit, msrIntelPkgEnergy: 3},
				"2": {msrIntelPowerUnit: intelUnit, msrIntelPkgEnergy: 1 << 14, msrIntelDRAMEnergy: 1 << 14},
			},
			wantVen: VendorIntel,
			want: []want{
				{KindPackage, 0, 183, 1 << 18 * 1_000_000, "0/msr@0x611"}, // floor(183.1…)
				{KindPackage, 1, 1_000_000, 1 << 18 * 1_000_000, "2/msr@0x611"},
				{KindDRAM, 1, 1_000_000, 1 << 18 * 1_000_000, "2/msr@0x619"}, // client: unit register's ESU
			},
		},
		{
			name:    "amd, two sockets",
			cpuinfo: "amd-epyc",
			regs: map[string]map[int64]uint64{
				"0": {msrAMDPowerUnit: amdUnit, msrAMDPkgEnergy: 65536},
				"2": {msrAMDPowerUnit: amdUnit, msrAMDPkgEnergy: 1},
			},
			wantVen: VendorAMD,
			want: []want{
				{KindPackage, 0, 1_000_000, 1 << 16 * 1_000_000, "0/msr@0xc001029b"},
				{KindPackage, 1, 15, 1 << 16 * 1_000_000, "2/msr@0xc001029b"},
			},
		},
		{
			name:    "hygon reads as amd",
			cpuinfo: "hygon",
			regs: map[string]map[int64]uint64{
				"0": {msrAMDPowerUnit: amdUnit, msrAMDPkgEnergy: 2},
				"2": {msrAMDPowerUnit: amdUnit, msrAMDPkgEnergy: 4},
			},
			wantVen: VendorAMD,
			want: []want{
				{KindPackage, 0, 30, 1 << 16 * 1_000_000, "0/msr@0xc001029b"},
				{KindPackage, 1, 61, 1 << 16 * 1_000_000, "2/msr@0xc001029b"},
			},
		},
		{
			name:    "no cpuinfo: amd found by its registers",
			cpuinfo: "",
			regs: map[string]map[int64]uint64{
				"0": {msrAMDPowerUnit: amdUnit, msrAMDPkgEnergy: 65536},
				"2": {msrAMDPowerUnit: amdUnit, msrAMDPkgEnergy: 65536 * 2},
			},
			wantVen: VendorAMD,
			want: []want{
				{KindPackage, 0, 1_000_000, 1 << 16 * 1_000_000, "0/msr@0xc001029b"},
				{KindPackage, 1, 2_000_000, 1 << 16 * 1_000_000, "2/msr@0xc001029b"},
			},
		},
		{
			name:    "cpuinfo says intel, registers are amd: falls back",
			cpuinfo: "intel-tigerlake",
			regs: map[string]map[int64]uint64{
				"0": {msrAMDPowerUnit: amdUnit, msrAMDPkgEnergy: 65536},
				"2": {msrAMDPowerUnit: amdUnit, msrAMDPkgEnergy: 65536},
			},
			wantVen: VendorAMD,
			want: []want{
				{KindPackage, 0, 1_000_000, 1 << 16 * 1_000_000, "0/msr@0xc001029b"},
				{KindPackage, 1, 1_000_000, 1 << 16 * 1_000_000, "2/msr@0xc001029b"},
			},
		},
		{
			name:    "explicit vendor",
			cpuinfo: "",
			vendor:  VendorIntel,
			regs: map[string]map[int64]uint64{
				"0": {msrIntelPowerUnit: intelUnit, msrIntelPkgEnergy: 1 << 14},
				"2": {msrIntelPowerUnit: intelUnit, msrIntelPkgEnergy: 1 << 15},
			},
			wantVen: VendorIntel,
			want: []want{
				{KindPackage, 0, 1_000_000, 1 << 18 * 1_000_000, "0/msr@0x611"},
				{KindPackage, 1, 2_000_000, 1 << 18 * 1_000_000, "2/msr@0x611"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newFakeHost(t, 4)
			for cpu, regs := range tt.regs {
				writeMSR(t, h.msrRoot, cpu, regs)
			}
			m, err := NewMSRWithOptions(h.opts(tt.vendor, tt.cpuinfo))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if m.vendor != tt.wantVen || m.Name() != "msr" {
				t.Errorf("Vendor %q Name %q, want %q msr", m.vendor, m.Name(), tt.wantVen)
			}
			rs, err := m.Read()
			if err != nil {
				t.Fatal(err)
			}
			got := make([]want, len(rs))
			for i, r := range rs {
				rel, _ := filepath.Rel(h.msrRoot, r.Path)
				got[i] = want{r.Kind, r.Socket, r.EnergyUJ, r.MaxRangeUJ, rel}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("readings\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// Tracker deltas across a raw 32-bit wrap are exact: 512 raw units at
// ESU 14 are exactly 31250 µJ.
func TestMSRWrapIsExact(t *testing.T) {
	h := newFakeHost(t, 1)
	writeMSR(t, h.msrRoot, "0", map[int64]uint64{msrIntelPowerUnit: intelUnit, msrIntelPkgEnergy: 0xFFFF_FF00})
	m, err := NewMSRWithOptions(h.opts("", "intel-tigerlake"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tr := NewTracker()
	var total uint64
	for _, raw := range []uint64{0xFFFF_FF00, 0x100, 0x200, 0xFFFF_FFFF, 0} {
		writeMSR(t, h.msrRoot, "0", map[int64]uint64{msrIntelPkgEnergy: raw})
		rs, err := m.Read()
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range tr.Update(rs, time.Hour) { // long enough for any of these steps to be plausible
			total += d.DeltaUJ
		}
	}
	// Raw units counted: 0x200 + 0x100 + (2^32−1−0x200) + 1 = 2^32 + 0x100.
	// Exact energy: (2^32 + 256)·10^6/2^14 = 262144015625 µJ.
	if total != 262144015625 {
		t.Fatalf("total %d µJ, want 262144015625", total)
	}
}

// Without a topology tree, CPU 0 is read as socket 0.
func TestMSRNoTopology(t *testing.T) {
	root := filepath.Join(t.TempDir(), "cpu")
	writeMSR(t, root, "0", map[int64]uint64{msrAMDPowerUnit: amdUnit, msrAMDPkgEnergy: 65536})
	m, err := NewMSRWithOptions(MSROptions{
		Root: root, CPUInfoPath: filepath.Join(root, "none"), SysCPURoot: filepath.Join(root, "none"),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	rs, err := m.Read()
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].Socket != 0 || rs[0].EnergyUJ != 1_000_000 {
		t.Fatalf("readings %+v, want socket 0 with 1000000 µJ", rs)
	}
}

func TestMSRErrors(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(t *testing.T, h fakeHost)
		vendor string
		wants  []string
	}{
		{
			name:  "no msr driver",
			setup: func(*testing.T, fakeHost) {},
			wants: []string{"0/msr", "modprobe msr"},
		},
		{
			name: "no RAPL registers",
			setup: func(t *testing.T, h fakeHost) {
				writeMSR(t, h.msrRoot, "0", map[int64]uint64{0x10: 1})
				writeMSR(t, h.msrRoot, "2", map[int64]uint64{0x10: 1})
			},
			wants: []string{"no RAPL energy registers", "0x606", "0xc0010299"},
		},
		{
			name: "explicit vendor without its registers",
			setup: func(t *testing.T, h fakeHost) {
				writeMSR(t, h.msrRoot, "0", map[int64]uint64{msrAMDPowerUnit: amdUnit, msrAMDPkgEnergy: 1})
				writeMSR(t, h.msrRoot, "2", map[int64]uint64{msrAMDPowerUnit: amdUnit, msrAMDPkgEnergy: 1})
			},
			vendor: VendorIntel,
			wants:  []string{"intel unit register 0x606"},
		},
		{
			name: "second socket lacks its file",
			setup: func(t *testing.T, h fakeHost) {
				writeMSR(t, h.msrRoot, "0", map[int64]uint64{msrAMDPowerUnit: amdUnit, msrAMDPkgEnergy: 1})
			},
			wants: []string{"2/msr", "modprobe msr"},
		},
		{
			name:   "unknown vendor",
			setup:  func(*testing.T, fakeHost) {},
			vendor: "arm",
			wants:  []string{`unknown vendor "arm"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newFakeHost(t, 4)
			tt.setup(t, h)
			m, err := NewMSRWithOptions(h.opts(tt.vendor, ""))
			if err == nil {
				m.Close()
				t.Fatal("want an error")
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestNewMSRConstructors(t *testing.T) {
	h := newFakeHost(t, 2)
	writeMSR(t, h.msrRoot, "0", map[int64]uint64{msrAMDPowerUnit: amdUnit, msrAMDPkgEnergy: 1})
	useFakeDefaults(t, h.sysRoot, filepath.Join("testdata", "cpuinfo", "amd-epyc"))
	m, err := NewMSR(h.msrRoot)
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	if _, err := NewMSRWithOptions(MSROptions{Root: h.msrRoot, Vendor: VendorIntel}); err == nil {
		t.Fatal("NewMSRWithOptions(intel) on AMD registers succeeded")
	}
	m, err = NewMSRWithOptions(MSROptions{Root: h.msrRoot, Vendor: VendorAMD})
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
}

// useFakeDefaults points the default cpuinfo and sysfs paths at fakes for
// the duration of a test.
func useFakeDefaults(t *testing.T, sysRoot, cpuinfo string) {
	oldSys, oldCI := defaultSysCPURoot, defaultCPUInfoPath
	defaultSysCPURoot, defaultCPUInfoPath = sysRoot, cpuinfo
	t.Cleanup(func() { defaultSysCPURoot, defaultCPUInfoPath = oldSys, oldCI })
}

func TestReadCPUInfo(t *testing.T) {
	tests := []struct {
		file string
		want cpuID
		dram bool
	}{
		{"intel-skylake-x", cpuID{VendorIntel, 6, 85}, true},
		{"intel-tigerlake", cpuID{VendorIntel, 6, 140}, false},
		{"amd-epyc", cpuID{VendorAMD, 25, 1}, false},
		{"hygon", cpuID{VendorAMD, 24, 1}, false},
	}
	for _, tt := range tests {
		got, err := readCPUInfo(filepath.Join("testdata", "cpuinfo", tt.file))
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want || intelDRAMFixedUnit(got) != tt.dram {
			t.Errorf("%s: %+v fixed-dram %v, want %+v %v", tt.file, got, intelDRAMFixedUnit(got), tt.want, tt.dram)
		}
	}
	if _, err := readCPUInfo(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing cpuinfo: err %v, want not-exist", err)
	}
}

func BenchmarkMSRRead(b *testing.B) {
	root := filepath.Join(b.TempDir(), "cpu")
	writeMSR(b, root, "0", map[int64]uint64{msrIntelPowerUnit: intelUnit, msrIntelPkgEnergy: 5, msrIntelDRAMEnergy: 7})
	m, err := NewMSRWithOptions(MSROptions{Root: root, CPUInfoPath: "/nonexistent", SysCPURoot: "/nonexistent"})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Read(); err != nil {
			b.Fatal(err)
		}
	}
}
