package share

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWriteRefusesPlantedLinks plants symbolic links (and non-directories)
// where the writer writes, pointing outside the share root, and checks
// that Write refuses with ErrUnsafe naming the path, and that nothing
// outside the root was created or modified.
func TestWriteRefusesPlantedLinks(t *testing.T) {
	for _, tc := range []struct {
		name  string
		path  string // relative to the VM directory ("" = the VM dir itself)
		toDir bool   // link to the outside directory, else to the outside file
		plant func(t *testing.T, p string)
	}{
		{name: "vm dir", path: "", toDir: true},
		{name: "package zone dir", path: PackageZoneDir, toDir: true},
		{name: "dram zone dir", path: DRAMZoneDir, toDir: true},
		{name: "core zone dir", path: CoreZoneDir, toDir: true},
		{name: "record", path: RecordFile},
		{name: "energy_uj", path: filepath.Join(PackageZoneDir, EnergyFile)},
		{name: "dram energy_uj", path: filepath.Join(DRAMZoneDir, EnergyFile)},
		{name: "name file", path: filepath.Join(PackageZoneDir, NameFile)},
		{name: "max range file", path: filepath.Join(DRAMZoneDir, MaxRangeFile)},
		{name: "file where a dir belongs", path: PackageZoneDir, plant: func(t *testing.T, p string) {
			if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "dir where a file belongs", path: RecordFile, plant: func(t *testing.T, p string) {
			if err := os.Mkdir(p, 0o755); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "relative link inside the root", path: PackageZoneDir, plant: func(t *testing.T, p string) {
			if err := os.Symlink(CoreZoneDir, p); err != nil { // stays inside the VM dir
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, root := newTestWriter(t)
			w.CheckEvery = 1 // the full check; the held path is TestHeld*
			outside := t.TempDir()
			outDir := filepath.Join(outside, "dir")
			outFile := filepath.Join(outside, "secret")
			if err := os.Mkdir(outDir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(outFile, []byte("secret\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			vmDir := filepath.Join(root, "vm")
			if tc.path != "" {
				// A first, honest write creates the tree.
				if err := w.Write("vm", testRecord(1, 1, 1), true); err != nil {
					t.Fatal(err)
				}
			}
			target := filepath.Join(vmDir, tc.path)
			if err := os.RemoveAll(target); err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.plant != nil:
				tc.plant(t, target)
			case tc.toDir:
				if err := os.Symlink(outDir, target); err != nil {
					t.Fatal(err)
				}
			default:
				if err := os.Symlink(outFile, target); err != nil {
					t.Fatal(err)
				}
			}

			err := w.Write("vm", testRecord(2, 2, 2), true)
			if !errors.Is(err, ErrUnsafe) {
				t.Fatalf("Write = %v, want ErrUnsafe", err)
			}
			if !strings.Contains(err.Error(), target) {
				t.Errorf("error %q does not name %s", err, target)
			}
			if tc.path == "" {
				if err := w.EnsureDir("vm"); !errors.Is(err, ErrUnsafe) {
					t.Errorf("EnsureDir = %v, want ErrUnsafe", err)
				}
			}
			if got := readString(t, outFile); got != "secret\n" {
				t.Errorf("outside file modified: %q", got)
			}
			if entries, err := os.ReadDir(outDir); err != nil || len(entries) != 0 {
				t.Errorf("outside dir: %v entries, err %v; want none", len(entries), err)
			}
			// The planted thing is left alone, not deleted.
			if _, err := os.Lstat(target); err != nil {
				t.Errorf("the planted %s was removed: %v", target, err)
			}
			if left := tempFiles(t, root); len(left) != 0 {
				t.Errorf("temporary files left: %v", left)
			}
		})
	}
}

// TestRemoveDoesNotFollowLinks: pruning a VM directory that holds links
// to the outside removes the links, not what they point to.
func TestRemoveDoesNotFollowLinks(t *testing.T) {
	w, root := newTestWriter(t)
	outside := t.TempDir()
	outFile := filepath.Join(outside, "keep")
	if err := os.WriteFile(outFile, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := w.Write("vm", testRecord(1, 1, 1), false); err != nil {
		t.Fatal(err)
	}
	vmDir := filepath.Join(root, "vm")
	for _, l := range []string{"to-dir", filepath.Join(PackageZoneDir, "to-file")} {
		dst := outside
		if strings.HasSuffix(l, "file") {
			dst = outFile
		}
		if err := os.Symlink(dst, filepath.Join(vmDir, l)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(root, "linked-vm")); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"vm", "linked-vm"} {
		if err := w.Remove(n); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{vmDir, filepath.Join(root, "linked-vm")} {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there: %v", p, err)
		}
	}
	if got := readString(t, outFile); got != "keep" {
		t.Errorf("outside file = %q", got)
	}
}
