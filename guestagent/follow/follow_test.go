package follow

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/share"
)

func validRecord() share.Record {
	return share.Record{
		Schema: share.SchemaVersion, Host: "h1", Domain: "vm1", UUID: "u-1", Instance: "i-1",
		Sequence: 7, Timestamp: time.Unix(1_700_000_000, 0).UTC(), IntervalSeconds: 1,
		Zones: map[string]share.ZoneEnergy{share.ZonePackage: {UsageUJ: 10, IdleUJ: 5}},
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func recordJSON(t *testing.T, mutate func(map[string]any)) string {
	t.Helper()
	b, err := json.Marshal(validRecord())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(m)
	}
	b, _ = json.Marshal(m)
	return string(b)
}

func writeTree(t *testing.T, dir string, pkg, max uint64) {
	t.Helper()
	z := filepath.Join(dir, share.PackageZoneDir)
	writeFile(t, filepath.Join(z, share.NameFile), share.PackageZoneName+"\n")
	writeFile(t, filepath.Join(z, share.EnergyFile), itoa(pkg)+"\n")
	writeFile(t, filepath.Join(z, share.MaxRangeFile), itoa(max)+"\n")
}

func itoa(v uint64) string { b, _ := json.Marshal(v); return string(b) }

func TestRead(t *testing.T) {
	tests := []struct {
		name       string
		setup      func(t *testing.T, dir string)
		noDir      bool
		wantReason string
		wantRecord bool
		wantTree   bool
	}{
		{name: "no share dir", noDir: true, wantReason: ReasonMissing},
		{name: "empty share dir", setup: func(*testing.T, string) {}, wantReason: ReasonMissing},
		{name: "valid record", wantRecord: true, setup: func(t *testing.T, d string) {
			writeFile(t, filepath.Join(d, share.RecordFile), recordJSON(t, nil))
		}},
		{name: "record wins over tree", wantRecord: true, setup: func(t *testing.T, d string) {
			writeFile(t, filepath.Join(d, share.RecordFile), recordJSON(t, nil))
			writeTree(t, d, 1, 100)
		}},
		{name: "tree only", wantTree: true, setup: func(t *testing.T, d string) { writeTree(t, d, 42, 100) }},
		{name: "empty record", wantReason: ReasonEmpty, setup: func(t *testing.T, d string) {
			writeFile(t, filepath.Join(d, share.RecordFile), "")
		}},
		{name: "garbled record", wantReason: ReasonGarbled, setup: func(t *testing.T, d string) {
			writeFile(t, filepath.Join(d, share.RecordFile), "{not json")
		}},
		{name: "truncated record", wantReason: ReasonGarbled, setup: func(t *testing.T, d string) {
			s := recordJSON(t, nil)
			writeFile(t, filepath.Join(d, share.RecordFile), s[:len(s)/2])
		}},
		{name: "huge record", wantReason: ReasonTooLarge, setup: func(t *testing.T, d string) {
			writeFile(t, filepath.Join(d, share.RecordFile), `{"schema":1,"pad":"`+strings.Repeat("x", share.MaxFileSize)+`"}`)
		}},
		{name: "older schema", wantReason: ReasonSchema, setup: func(t *testing.T, d string) {
			writeFile(t, filepath.Join(d, share.RecordFile), recordJSON(t, func(m map[string]any) { m["schema"] = share.MinSchemaVersion - 1 }))
		}},
		{name: "newer schema", wantReason: ReasonSchema, setup: func(t *testing.T, d string) {
			writeFile(t, filepath.Join(d, share.RecordFile), recordJSON(t, func(m map[string]any) { m["schema"] = share.SchemaVersion + 1 }))
		}},
		{name: "garbled record does not fall back to the tree", wantReason: ReasonGarbled, setup: func(t *testing.T, d string) {
			writeFile(t, filepath.Join(d, share.RecordFile), "[]")
			writeTree(t, d, 1, 100)
		}},
		{name: "garbled tree counter", wantReason: ReasonGarbled, setup: func(t *testing.T, d string) {
			writeTree(t, d, 1, 100)
			writeFile(t, filepath.Join(d, share.PackageZoneDir, share.EnergyFile), "12abc\n")
		}},
		{name: "tree counter above its range", wantReason: ReasonGarbled, setup: func(t *testing.T, d string) { writeTree(t, d, 101, 100) }},
		{name: "empty tree counter", wantReason: ReasonEmpty, setup: func(t *testing.T, d string) {
			writeTree(t, d, 1, 100)
			writeFile(t, filepath.Join(d, share.PackageZoneDir, share.EnergyFile), "")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "share")
			if !tt.noDir {
				if err := os.Mkdir(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				tt.setup(t, dir)
			}
			obs := Reader{Dir: dir}.Read()
			if obs.Reason != tt.wantReason {
				t.Fatalf("reason = %q, want %q (err: %v)", obs.Reason, tt.wantReason, obs.Err)
			}
			if (obs.Err == nil) != (tt.wantReason == "") {
				t.Fatalf("err = %v, want error %v", obs.Err, tt.wantReason != "")
			}
			if got := obs.Record != nil; got != tt.wantRecord {
				t.Errorf("record present = %v, want %v", got, tt.wantRecord)
			}
			if got := obs.Tree != nil; got != tt.wantTree {
				t.Errorf("tree present = %v, want %v", got, tt.wantTree)
			}
			if obs.OK() != (tt.wantRecord || tt.wantTree) {
				t.Errorf("OK() = %v", obs.OK())
			}
			if obs.Err != nil && !strings.Contains(obs.Err.Error(), dir) {
				t.Errorf("error %q does not name the share dir %s", obs.Err, dir)
			}
		})
	}
}

func TestReadValues(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, 42, 100)
	obs := Reader{Dir: dir}.Read()
	if obs.Tree == nil || obs.Tree.PackageUJ != 42 || obs.Tree.PackageMaxUJ != 100 || obs.Tree.HasDRAM {
		t.Fatalf("tree = %+v", obs.Tree)
	}
	writeFile(t, filepath.Join(dir, share.RecordFile), recordJSON(t, nil))
	obs = Reader{Dir: dir}.Read()
	if obs.Record == nil || obs.Record.Zones[share.ZonePackage].TotalUJ() != 15 || obs.Record.Sequence != 7 {
		t.Fatalf("record = %+v", obs.Record)
	}
}

func TestReadNotADirectory(t *testing.T) {
	p := filepath.Join(t.TempDir(), "file")
	writeFile(t, p, "x")
	if obs := (Reader{Dir: p}).Read(); obs.Reason != ReasonMissing {
		t.Fatalf("reason = %q, want %q", obs.Reason, ReasonMissing)
	}
}

// TestReadScaphandreTree: Scaphandre's qemu exporter writes only
// intel-rapl:0/energy_uj (no name, no max range; a u64 that never wraps).
// Such a share is followed, with its max range unknown (0).
func TestReadScaphandreTree(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, share.PackageZoneDir, share.EnergyFile), "18446744073709551000\n")
	obs := Reader{Dir: dir}.Read()
	if !obs.OK() || obs.Tree == nil {
		t.Fatalf("Scaphandre-shaped share not followed: reason %q err %v", obs.Reason, obs.Err)
	}
	if obs.Tree.PackageUJ != 18446744073709551000 || obs.Tree.PackageMaxUJ != 0 || obs.Tree.HasDRAM {
		t.Fatalf("tree = %+v, want the counter with an unknown (0) max range and no dram", obs.Tree)
	}
}

// TestReadTreeMaxRange: a max range that is present is still checked.
func TestReadTreeMaxRange(t *testing.T) {
	tests := []struct {
		name, max  string
		wantReason string
	}{
		{"zero max range", "0\n", ReasonGarbled},
		{"garbled max range", "x\n", ReasonGarbled},
		{"empty max range", "", ReasonEmpty},
		{"counter above max range", "10\n", ReasonGarbled},
		{"valid", "1000\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, share.PackageZoneDir, share.EnergyFile), "42\n")
			writeFile(t, filepath.Join(dir, share.PackageZoneDir, share.MaxRangeFile), tt.max)
			obs := Reader{Dir: dir}.Read()
			if obs.Reason != tt.wantReason {
				t.Fatalf("reason = %q, want %q (err %v)", obs.Reason, tt.wantReason, obs.Err)
			}
		})
	}
}
