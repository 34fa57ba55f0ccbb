package benchfloor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tree writes a minimal tree: two energy files, a stat file, a state file
// and two VMs with a zone file and a record each.
func tree(t *testing.T) (Layout, string) {
	t.Helper()
	dir := t.TempDir()
	write := func(p, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l := Layout{
		ProcStat:  filepath.Join(dir, "proc", "stat"),
		StateFile: filepath.Join(dir, "state.json"),
		ShareRoot: filepath.Join(dir, "vms"),
		VMs:       []string{"a", "b"},
		Files:     []string{"zone/energy_uj", "rec.json"},
		Writers:   2,
	}
	for i, z := range []string{"z0", "z1"} {
		p := filepath.Join(dir, "sys", z, "energy_uj")
		write(p, strings.Repeat("7", i+1)+"\n")
		l.EnergyFiles = append(l.EnergyFiles, p)
	}
	write(l.ProcStat, "cpu  1 2 3 4\n")
	write(l.StateFile, `{"state":1}`)
	for _, vm := range l.VMs {
		write(filepath.Join(l.ShareRoot, vm, "zone", "energy_uj"), "42\n")
		write(filepath.Join(l.ShareRoot, vm, "rec.json"), `{"vm":"`+vm+`"}`)
	}
	return l, dir
}

func TestTickRewritesEveryFileInPlace(t *testing.T) {
	l, _ := tree(t)
	f, err := Open(l)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	before := map[string]os.FileInfo{}
	paths := []string{l.StateFile}
	for _, vm := range l.VMs {
		for _, p := range l.Files {
			paths = append(paths, filepath.Join(l.ShareRoot, vm, p))
		}
	}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		before[p] = fi
	}
	// One tick: after more, a freed inode number may come back.
	if err := f.Tick(); err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if os.SameFile(before[p], fi) {
			t.Errorf("%s: still the same inode: not replaced by rename", p)
		}
		if fi.Size() != before[p].Size() {
			t.Errorf("%s: size %d, want %d (the content taken at Open)", p, fi.Size(), before[p].Size())
		}
	}
	for range 2 {
		if err := f.Tick(); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(l.ShareRoot, "b", "rec.json")); string(got) != `{"vm":"b"}` {
		t.Errorf("b/rec.json = %q", got)
	}
	// No temporary file is left behind.
	for _, vm := range l.VMs {
		es, _ := os.ReadDir(filepath.Join(l.ShareRoot, vm))
		for _, e := range es {
			if strings.HasPrefix(e.Name(), ".") {
				t.Errorf("%s: temporary %s left", vm, e.Name())
			}
		}
	}
}

func TestOpenRefusesLinkedDirectory(t *testing.T) {
	for _, sub := range []string{"b", "b/zone"} { // a VM directory, a zone directory
		t.Run(sub, func(t *testing.T) {
			l, dir := tree(t)
			p := filepath.Join(l.ShareRoot, sub)
			if err := os.Rename(p, filepath.Join(dir, "elsewhere")); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(filepath.Join(dir, "elsewhere"), p); err != nil {
				t.Fatal(err)
			}
			if f, err := Open(l); err == nil {
				f.Close()
				t.Fatalf("Open followed the symlink at %s", p)
			} else if !strings.Contains(err.Error(), filepath.Join(l.ShareRoot, "b")) {
				t.Errorf("error %q does not name %s", err, p)
			}
		})
	}
}

func TestTickFailsOnGarbledEnergy(t *testing.T) {
	l, _ := tree(t)
	f, err := Open(l)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := os.WriteFile(l.EnergyFiles[1], []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.Tick(); err == nil || !strings.Contains(err.Error(), l.EnergyFiles[1]) {
		t.Fatalf("Tick on a garbled energy_uj: %v, want an error naming the file", err)
	}
}

// TestMaxHeld: the floor holds at most MaxHeld directories, opens the
// others for each tick, rewrites every file either way, and keeps no
// descriptor from one tick to the next beyond those held.
func TestMaxHeld(t *testing.T) {
	for _, tc := range []struct{ max, want int }{{0, 4}, {1, 1}, {3, 3}, {9, 4}} {
		l, _ := tree(t)
		l.MaxHeld = tc.max
		f, err := Open(l)
		if err != nil {
			t.Fatal(err)
		}
		if f.Held() != tc.want {
			t.Errorf("MaxHeld %d: %d directories held, want %d", tc.max, f.Held(), tc.want)
		}
		fds := func() int { es, _ := os.ReadDir("/proc/self/fd"); return len(es) }
		before := fds()
		for range 2 {
			paths := map[string]os.FileInfo{}
			for _, vm := range l.VMs {
				for _, p := range l.Files {
					p = filepath.Join(l.ShareRoot, vm, p)
					fi, err := os.Stat(p)
					if err != nil {
						t.Fatal(err)
					}
					paths[p] = fi
				}
			}
			if err := f.Tick(); err != nil {
				t.Fatalf("MaxHeld %d: %v", tc.max, err)
			}
			for p, old := range paths {
				if fi, err := os.Stat(p); err != nil || os.SameFile(old, fi) {
					t.Errorf("MaxHeld %d: %s not replaced (%v)", tc.max, p, err)
				}
			}
			if got := fds(); got != before {
				t.Errorf("MaxHeld %d: %d descriptors open after a tick, %d before", tc.max, got, before)
			}
		}
		f.Close()
	}
}
