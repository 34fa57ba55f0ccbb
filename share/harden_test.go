package share

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// requireRoot skips a test that needs root (mounts), or fails it when
// VIRTWATT_REQUIRE_TOOLS is set (CI runs as root).
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("VIRTWATT_REQUIRE_TOOLS") != "" {
		t.Fatal("this test mounts file systems and must run as root (VIRTWATT_REQUIRE_TOOLS is set)")
	}
	t.Skip("not root: cannot mount")
}

// writeRecordFile writes rec as a record file at path.
func writeRecordFile(t *testing.T, path string, rec *Record) {
	t.Helper()
	w, root := newTestWriter(t)
	if err := w.Write("x", rec, false); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "x", RecordFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestWriterReadRecordNeverFollows: the host's read of an existing record
// goes through the same confinement as its writes: a planted symlink (to
// a file outside the share claiming huge counters, or to a file inside
// it), a FIFO, a directory, a VM directory that is a link, none is read.
func TestWriterReadRecordNeverFollows(t *testing.T) {
	huge := testRecord(1<<62, 1<<62, 1<<62)
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, vmDir, outside string)
		want  error // nil: the record is read
	}{
		{name: "honest record", plant: func(t *testing.T, vmDir, _ string) {}},
		{name: "record links outside", want: ErrUnsafe, plant: func(t *testing.T, vmDir, outside string) {
			mustSymlink(t, filepath.Join(outside, "forged.json"), filepath.Join(vmDir, RecordFile))
		}},
		{name: "record links inside the VM dir", want: ErrUnsafe, plant: func(t *testing.T, vmDir, outside string) {
			writeRecordFile(t, filepath.Join(vmDir, "copy.json"), huge)
			mustSymlink(t, "copy.json", filepath.Join(vmDir, RecordFile))
		}},
		{name: "vm dir links outside", want: ErrUnsafe, plant: func(t *testing.T, vmDir, outside string) {
			if err := os.RemoveAll(vmDir); err != nil {
				t.Fatal(err)
			}
			writeRecordFile(t, filepath.Join(outside, RecordFile), huge)
			mustSymlink(t, outside, vmDir)
		}},
		{name: "fifo", want: ErrGarbled, plant: func(t *testing.T, vmDir, _ string) {
			if err := syscall.Mkfifo(filepath.Join(vmDir, RecordFile), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "directory", want: ErrGarbled, plant: func(t *testing.T, vmDir, _ string) {
			if err := os.Mkdir(filepath.Join(vmDir, RecordFile), 0o755); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "too large", want: ErrTooLarge, plant: func(t *testing.T, vmDir, _ string) {
			if err := os.WriteFile(filepath.Join(vmDir, RecordFile), make([]byte, MaxFileSize+1), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "missing", want: fs.ErrNotExist, plant: func(t *testing.T, vmDir, _ string) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, root := newTestWriter(t)
			outside := t.TempDir()
			writeRecordFile(t, filepath.Join(outside, "forged.json"), huge)
			vmDir := filepath.Join(root, "vm")
			if err := w.Write("vm", testRecord(5, 10, 10), true); err != nil {
				t.Fatal(err)
			}
			if tc.name != "honest record" {
				if err := os.Remove(filepath.Join(vmDir, RecordFile)); err != nil {
					t.Fatal(err)
				}
			}
			tc.plant(t, vmDir, outside)
			done := make(chan struct{})
			var rec *Record
			var err error
			go func() {
				defer close(done)
				rec, err = w.ReadRecord("vm")
			}()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("ReadRecord blocked")
			}
			if tc.want == nil {
				if err != nil || rec.Sequence != 5 {
					t.Fatalf("ReadRecord = %+v, %v; want sequence 5", rec, err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("ReadRecord = %+v, %v; want %v", rec, err, tc.want)
			}
			if rec != nil {
				t.Fatalf("a record was returned: %+v", rec)
			}
			if !strings.Contains(err.Error(), vmDir) {
				t.Errorf("error %q does not name %s", err, vmDir)
			}
		})
	}
}

func mustSymlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// TestWriteRestoresModes: files and directories a guest chmod'ed (9p in
// mapped mode, a privileged guest) get 0644 and 0755 back at the next
// write, static files (name, max_energy_range_uj) included.
func TestWriteRestoresModes(t *testing.T) {
	files := []string{
		RecordFile,
		filepath.Join(PackageZoneDir, EnergyFile),
		filepath.Join(PackageZoneDir, NameFile),
		filepath.Join(PackageZoneDir, MaxRangeFile),
		filepath.Join(DRAMZoneDir, EnergyFile),
		filepath.Join(DRAMZoneDir, NameFile),
		filepath.Join(DRAMZoneDir, MaxRangeFile),
	}
	dirs := []string{".", PackageZoneDir, CoreZoneDir, DRAMZoneDir}
	for _, mode := range []os.FileMode{0, 0o700, 0o777} {
		t.Run(mode.String(), func(t *testing.T) {
			w, root := newTestWriter(t)
			w.CheckEvery = 1 // the full check; the held path is TestHeld*
			vmDir := filepath.Join(root, "vm")
			if err := w.Write("vm", testRecord(1, 1, 1), true); err != nil {
				t.Fatal(err)
			}
			for _, p := range append(files, dirs...) {
				if err := os.Chmod(filepath.Join(vmDir, p), mode); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Write("vm", testRecord(2, 2, 2), true); err != nil {
				t.Fatal(err)
			}
			for _, p := range files {
				checkMode(t, filepath.Join(vmDir, p), 0o644)
			}
			for _, p := range dirs {
				checkMode(t, filepath.Join(vmDir, p), 0o755)
			}
		})
	}
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != want {
		t.Errorf("%s: mode %v, want %v", path, fi.Mode().Perm(), want)
	}
}

// TestWriteRefusesVMDirReplacedBetweenWrites: a VM directory replaced by a
// symlink (to a directory outside) or by a file after it was written is
// refused, and nothing outside is written.
func TestWriteRefusesVMDirReplacedBetweenWrites(t *testing.T) {
	for _, link := range []bool{true, false} {
		w, root := newTestWriter(t)
		outside := t.TempDir()
		vmDir := filepath.Join(root, "vm")
		if err := w.Write("vm", testRecord(1, 1, 1), true); err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(vmDir); err != nil {
			t.Fatal(err)
		}
		if link {
			mustSymlink(t, outside, vmDir)
		} else if err := os.WriteFile(vmDir, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := w.Write("vm", testRecord(2, 2, 2), true); !errors.Is(err, ErrUnsafe) {
			t.Errorf("link %v: Write = %v, want ErrUnsafe", link, err)
		}
		if _, err := w.ReadRecord("vm"); !errors.Is(err, ErrUnsafe) {
			t.Errorf("link %v: ReadRecord = %v, want ErrUnsafe", link, err)
		}
		if entries, _ := os.ReadDir(outside); len(entries) != 0 {
			t.Errorf("link %v: %d entries written outside", link, len(entries))
		}
	}
}

// TestRemoveStaysOnItsFileSystem: pruning a VM directory with another file
// system mounted inside (a tmpfs; a bind mount of a directory of the same
// file system, which has the same device number) removes the rest and
// leaves the mount and every file in it alone, with an error naming it.
func TestRemoveStaysOnItsFileSystem(t *testing.T) {
	requireRoot(t)
	for _, tc := range []struct {
		name  string
		where string // the mount point, relative to the VM directory
		mount func(t *testing.T, target string) string
	}{
		{name: "tmpfs", where: "scratch", mount: func(t *testing.T, target string) string {
			if err := syscall.Mount("tmpfs", target, "tmpfs", 0, "size=1m"); err != nil {
				t.Fatalf("mount tmpfs: %v", err)
			}
			return target
		}},
		{name: "tmpfs in a zone dir", where: filepath.Join(PackageZoneDir, "deep"), mount: func(t *testing.T, target string) string {
			if err := syscall.Mount("tmpfs", target, "tmpfs", 0, "size=1m"); err != nil {
				t.Fatalf("mount tmpfs: %v", err)
			}
			return target
		}},
		{name: "bind mount of the same file system", where: "bound", mount: func(t *testing.T, target string) string {
			src := filepath.Join(filepath.Dir(filepath.Dir(filepath.Dir(target))), "bind-source")
			if err := os.Mkdir(src, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := syscall.Mount(src, target, "", syscall.MS_BIND, ""); err != nil {
				t.Fatalf("bind mount: %v", err)
			}
			return src
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, root := newTestWriter(t)
			vmDir := filepath.Join(root, "vm")
			if err := w.Write("vm", testRecord(1, 1, 1), true); err != nil {
				t.Fatal(err)
			}
			target := filepath.Join(vmDir, tc.where)
			if err := os.Mkdir(target, 0o755); err != nil {
				t.Fatal(err)
			}
			backing := tc.mount(t, target)
			t.Cleanup(func() {
				if err := syscall.Unmount(target, syscall.MNT_DETACH); err != nil {
					t.Errorf("unmount %s: %v", target, err)
				}
			})
			keep := filepath.Join(target, "keep")
			if err := os.MkdirAll(filepath.Join(target, "sub"), 0o755); err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{keep, filepath.Join(target, "sub", "keep")} {
				if err := os.WriteFile(p, []byte("keep"), 0o644); err != nil {
					t.Fatal(err)
				}
			}

			err := w.Remove("vm")
			for _, p := range []string{keep, filepath.Join(target, "sub", "keep"),
				filepath.Join(backing, "keep"), filepath.Join(backing, "sub", "keep")} {
				if got := readString(t, p); got != "keep" {
					t.Errorf("%s = %q", p, got)
				}
			}
			if !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), target) {
				t.Fatalf("Remove = %v, want ErrUnsafe naming %s", err, target)
			}
			// Everything else went.
			for _, p := range []string{RecordFile, filepath.Join(DRAMZoneDir, EnergyFile), CoreZoneDir} {
				if _, err := os.Lstat(filepath.Join(vmDir, p)); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s not removed: %v", p, err)
				}
			}
		})
	}
}

// TestRemoveDeepTree: a directory tree deeper than the layout is removed
// up to a bound, never without one.
func TestRemoveDeepTree(t *testing.T) {
	w, root := newTestWriter(t)
	if err := w.Write("vm", testRecord(1, 1, 1), false); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(root, "vm")
	for range 10 {
		p = filepath.Join(p, "d")
	}
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p, "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := w.Remove("vm"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(root, "vm")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("vm dir still there: %v", err)
	}
	p = filepath.Join(root, "vm2")
	for range maxRemoveDepth + 2 {
		p = filepath.Join(p, "d")
	}
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := w.Remove("vm2"); !errors.Is(err, ErrUnsafe) {
		t.Fatalf("Remove of a %d-deep tree = %v, want ErrUnsafe", maxRemoveDepth+2, err)
	}
}
