package state

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/share"
)

func TestLoadMissingIsEmpty(t *testing.T) {
	st, err := Load(filepath.Join(t.TempDir(), "none.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(st.VMs) != 0 || st.Version != Version {
		t.Fatalf("got %+v", st)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	st := New()
	st.HostEnergyUJ["package/0"] = 123456789
	st.UnattributedUJ["package"] = 42
	st.VMs["u1"] = &VM{Name: "a", Instance: "i1", Sequence: 7,
		Zones: map[string]share.ZoneEnergy{"package": {UsageUJ: 10, IdleUJ: 5}}, VCPUTimeNS: 99}
	now := time.Date(2026, 11, 27, 1, 2, 3, 0, time.UTC)
	if err := st.Save(path, now); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.HostEnergyUJ["package/0"] != 123456789 || got.UnattributedUJ["package"] != 42 {
		t.Fatalf("host counters lost: %+v", got)
	}
	vm := got.VMs["u1"]
	if vm == nil || vm.Sequence != 7 || vm.Zones["package"].TotalUJ() != 15 || vm.VCPUTimeNS != 99 {
		t.Fatalf("vm lost: %+v", vm)
	}
	if !got.SavedAt.Equal(now) {
		t.Fatalf("saved_at %v", got.SavedAt)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		"garbled":  `{"version":1, "vms": {`,
		"version":  `{"version":99}`,
		"wrongtyp": `{"version":1,"vms":[1,2]}`,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, name+".json")
			if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(p)
			if err == nil || !strings.Contains(err.Error(), p) {
				t.Fatalf("want an error naming %s, got %v", p, err)
			}
		})
	}
}

func TestSaveToMissingDirFailsAndNamesFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "no", "such", "state.json")
	err := New().Save(p, time.Now())
	if err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("got %v", err)
	}
}

func TestSaveReplacesAtomically(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	st := New()
	for i := uint64(1); i <= 20; i++ {
		st.UnattributedUJ["package"] = i
		if err := st.Save(path, time.Now()); err != nil {
			t.Fatal(err)
		}
		got, err := Load(path)
		if err != nil || got.UnattributedUJ["package"] != i {
			t.Fatalf("save %d: %v %+v", i, err, got)
		}
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil || len(entries) != 1 {
		t.Fatalf("temp files left behind: %v %v", entries, err)
	}
}
