package meter

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

// zone is a Reading without its path, for compact expectations.
type zone struct {
	Kind     string
	Socket   int
	Energy   uint64
	MaxRange uint64
	Dir      string // directory of the energy_uj file, relative to root
}

func zonesOf(root string, rs []Reading) []zone {
	out := make([]zone, len(rs))
	for i, r := range rs {
		rel, _ := filepath.Rel(root, filepath.Dir(r.Path))
		out[i] = zone{r.Kind, r.Socket, r.EnergyUJ, r.MaxRangeUJ, rel}
	}
	return out
}

func TestPowercapTrees(t *testing.T) {
	tests := []struct {
		tree string
		want []zone
	}{
		{"one-socket.tree", []zone{
			{KindPackage, 0, 10669456282, 262143328850, "intel-rapl:0"},
			{KindCore, 0, 4120071386, 262143328850, "intel-rapl:0:0"},
			{KindUncore, 0, 80193051, 262143328850, "intel-rapl:0:1"},
			{KindDRAM, 0, 2455301006, 65712999613, "intel-rapl:0:2"},
		}},
		{"two-sockets.tree", []zone{
			{KindPackage, 0, 100000000, 262143328850, "intel-rapl:0"},
			{KindDRAM, 0, 20000000, 65712999613, "intel-rapl:0:0"},
			{KindPackage, 1, 110000000, 262143328850, "intel-rapl:1"},
			{KindDRAM, 1, 21000000, 65712999613, "intel-rapl:1:0"},
		}},
		{"psys.tree", []zone{
			{KindPackage, 0, 5000000, 262143328850, "intel-rapl:0"},
			{KindCore, 0, 3000000, 262143328850, "intel-rapl:0:0"},
			{KindUncore, 0, 100000, 262143328850, "intel-rapl:0:1"},
			{KindPsys, 0, 9000000, 262143328850, "intel-rapl:1"},
		}},
		{"multi-die.tree", []zone{
			{KindPackage, 0, 1000, 262143328850, "intel-rapl:0"},
			{KindDRAM, 0, 100, 65712999613, "intel-rapl:0:0"},
			{KindPackage, 1, 2000, 262143328850, "intel-rapl:1"},
			{KindDRAM, 1, 200, 65712999613, "intel-rapl:1:0"},
		}},
		{"amd.tree", []zone{
			{KindPackage, 0, 4294967295, 65535999984, "intel-rapl:0"},
			{KindPackage, 1, 77, 65535999984, "intel-rapl:1"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.tree, func(t *testing.T) {
			root := expandTree(t, tt.tree)
			p, err := NewPowercap(root)
			if err != nil {
				t.Fatal(err)
			}
			if p.Name() != "powercap" || len(p.zones) != len(tt.want) {
				t.Fatalf("Name %q Zones %d, want powercap %d", p.Name(), len(p.zones), len(tt.want))
			}
			rs, err := p.Read()
			if err != nil {
				t.Fatal(err)
			}
			if got := zonesOf(root, rs); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("zones\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// Read re-reads energy_uj only: new values show, zones added later do not.
func TestPowercapReadRereadsCounters(t *testing.T) {
	root := expandTree(t, "two-sockets.tree")
	p, err := NewPowercap(root)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "intel-rapl:1", "energy_uj"), "110000500\n")
	writeFile(t, filepath.Join(root, "intel-rapl:2", "name"), "package-2\n")
	writeFile(t, filepath.Join(root, "intel-rapl:2", "energy_uj"), "1\n")
	writeFile(t, filepath.Join(root, "intel-rapl:2", "max_energy_range_uj"), "10\n")
	rs, err := p.Read()
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 4 {
		t.Fatalf("got %d readings, want the 4 discovered zones", len(rs))
	}
	if rs[2].Kind != KindPackage || rs[2].Socket != 1 || rs[2].EnergyUJ != 110000500 {
		t.Errorf("socket 1 package = %+v, want energy 110000500", rs[2])
	}
}

// A sub-zone takes its socket from its parent's "package-K" name, not from
// the directory index.
func TestPowercapSubZoneSocketFromParentName(t *testing.T) {
	root := t.TempDir()
	for path, content := range map[string]string{
		"intel-rapl:0/name": "package-1", "intel-rapl:0/energy_uj": "5", "intel-rapl:0/max_energy_range_uj": "100",
		"intel-rapl:0:0/name": "dram", "intel-rapl:0:0/energy_uj": "6", "intel-rapl:0:0/max_energy_range_uj": "100",
	} {
		writeFile(t, filepath.Join(root, path), content+"\n")
	}
	p, err := NewPowercap(root)
	if err != nil {
		t.Fatal(err)
	}
	rs, _ := p.Read()
	want := []zone{{KindPackage, 1, 5, 100, "intel-rapl:0"}, {KindDRAM, 1, 6, 100, "intel-rapl:0:0"}}
	if got := zonesOf(root, rs); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestPowercapErrors(t *testing.T) {
	eacces := func(name string) (*os.File, error) {
		if filepath.Base(name) == "energy_uj" {
			return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EACCES}
		}
		return os.Open(name)
	}
	tests := []struct {
		name  string
		root  func(t *testing.T) string
		open  func(string) (*os.File, error)
		wants func(root string) []string
	}{
		{
			name:  "missing root",
			root:  func(t *testing.T) string { return filepath.Join(t.TempDir(), "powercap") },
			open:  os.Open,
			wants: func(root string) []string { return []string{root, "modprobe intel_rapl_common", "--meter msr"} },
		},
		{
			name: "empty tree",
			root: func(t *testing.T) string { return expandTree(t, "empty.tree") },
			open: os.Open,
			wants: func(root string) []string {
				return []string{root, "no RAPL zones", "modprobe intel_rapl_common", "--meter msr"}
			},
		},
		{
			name: "energy_uj not readable (EACCES)",
			root: func(t *testing.T) string { return expandTree(t, "one-socket.tree") },
			open: eacces,
			wants: func(root string) []string {
				return []string{filepath.Join(root, "intel-rapl:0", "energy_uj"), "permission denied",
					"CVE-2020-8694", "run virtwatt-host as root", "udev", "chmod"}
			},
		},
		{
			name: "missing max_energy_range_uj",
			root: func(t *testing.T) string {
				root := expandTree(t, "two-sockets.tree")
				if err := os.Remove(filepath.Join(root, "intel-rapl:1:0", "max_energy_range_uj")); err != nil {
					t.Fatal(err)
				}
				return root
			},
			open: os.Open,
			wants: func(root string) []string {
				return []string{filepath.Join(root, "intel-rapl:1:0", "max_energy_range_uj")}
			},
		},
		{
			name: "garbage in energy_uj",
			root: func(t *testing.T) string {
				root := expandTree(t, "two-sockets.tree")
				writeFile(t, filepath.Join(root, "intel-rapl:0", "energy_uj"), "12x4\n")
				return root
			},
			open:  os.Open,
			wants: func(root string) []string { return []string{filepath.Join(root, "intel-rapl:0", "energy_uj"), "12x4"} },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := tt.root(t)
			p, err := newPowercap(root, tt.open)
			if err == nil {
				t.Fatalf("NewPowercap(%s) = %v, want an error", root, p)
			}
			for _, w := range tt.wants(root) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// A counter that becomes unreadable after discovery fails Read with the same
// explanation.
func TestPowercapReadEACCESAfterDiscovery(t *testing.T) {
	root := expandTree(t, "one-socket.tree")
	p, err := NewPowercap(root)
	if err != nil {
		t.Fatal(err)
	}
	p.open = func(name string) (*os.File, error) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EACCES}
	}
	_, err = p.Read()
	if err == nil || !strings.Contains(err.Error(), "CVE-2020-8694") {
		t.Fatalf("Read error = %v, want the CVE-2020-8694 explanation", err)
	}
}

func TestParseDecimal(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0\n", 0, true},
		{" 262143328850\n", 262143328850, true},
		{"18446744073709551615", 18446744073709551615, true},
		{"18446744073709551616", 0, false},
		{"", 0, false},
		{"\n", 0, false},
		{"-1", 0, false},
		{"1 2", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseDecimal([]byte(tt.in))
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseDecimal(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func BenchmarkPowercapRead(b *testing.B) {
	root := b.TempDir()
	for _, z := range []string{"intel-rapl:0", "intel-rapl:0:0", "intel-rapl:1", "intel-rapl:1:0"} {
		name := "dram"
		if !strings.Contains(z[len("intel-rapl:"):], ":") {
			name = "package-" + z[len(z)-1:]
		}
		for f, c := range map[string]string{"name": name, "energy_uj": "123456789", "max_energy_range_uj": "262143328850"} {
			if err := os.MkdirAll(filepath.Join(root, z), 0o755); err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(root, z, f), []byte(c+"\n"), 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	p, err := NewPowercap(root)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Read(); err != nil {
			b.Fatal(err)
		}
	}
}
