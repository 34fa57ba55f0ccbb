package share

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// twoWrites writes vm twice, so that the second write (and the next ones,
// up to CheckEvery) take the held path.
func twoWrites(t *testing.T, w *Writer) {
	t.Helper()
	for i := range 2 {
		if err := w.Write("vm", testRecord(uint64(i+1), 1, 1), true); err != nil {
			t.Fatal(err)
		}
	}
	if d := w.vms["vm"]; d == nil || d.vm < 0 || d.untilCheck == 0 {
		t.Fatalf("after two writes the VM directory is not held: %+v", d)
	}
}

// TestHeldVMDirReplacedBySymlink: with the directories held, a VM (or
// zone) directory removed and replaced by a symlink to the outside is
// refused at the very next write (the held directory is gone: ENOENT
// triggers the full check); one renamed away and replaced is never
// written through and is refused within CheckEvery writes, the writes in
// between landing in the renamed directory, beneath the root.
func TestHeldVMDirReplacedBySymlink(t *testing.T) {
	for _, tc := range []struct {
		name   string
		dir    string // relative to the VM directory
		rename bool
	}{
		{"vm dir removed", "", false},
		{"vm dir renamed", "", true},
		{"package zone removed", PackageZoneDir, false},
		{"package zone renamed", PackageZoneDir, true},
		{"dram zone renamed", DRAMZoneDir, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, root := newTestWriter(t)
			outside := t.TempDir()
			twoWrites(t, w)
			target := filepath.Join(root, "vm", tc.dir)
			if tc.rename {
				if err := os.Rename(target, target+".old"); err != nil {
					t.Fatal(err)
				}
			} else if err := os.RemoveAll(target); err != nil {
				t.Fatal(err)
			}
			mustSymlink(t, outside, target)
			refusedAt := 0
			for i := 1; i <= w.CheckEvery; i++ {
				err := w.Write("vm", testRecord(uint64(10+i), 5, 5), true)
				if entries, _ := os.ReadDir(outside); len(entries) != 0 {
					t.Fatalf("write %d: %d entries written outside the root", i, len(entries))
				}
				if err != nil {
					if !errors.Is(err, ErrUnsafe) {
						t.Fatalf("write %d: %v, want ErrUnsafe", i, err)
					}
					refusedAt = i
					break
				}
			}
			switch {
			case refusedAt == 0:
				t.Fatalf("not refused within %d writes", w.CheckEvery)
			case !tc.rename && refusedAt != 1:
				t.Errorf("a removed directory replaced by a link was refused at write %d, want 1", refusedAt)
			}
			if fi, err := os.Lstat(target); err != nil || fi.Mode()&os.ModeSymlink == 0 {
				t.Errorf("the planted link was touched: %v, %v", fi, err)
			}
		})
	}
}

// TestHeldDirRemovedAndRecreated: a guest removes a held directory and
// makes a new one (mode 0700) under the same name: the next write goes
// into the new directory, whole (static files included) and with 0755.
func TestHeldDirRemovedAndRecreated(t *testing.T) {
	for _, dir := range []string{"", PackageZoneDir, DRAMZoneDir} {
		t.Run("dir="+dir, func(t *testing.T) {
			w, root := newTestWriter(t)
			twoWrites(t, w)
			target := filepath.Join(root, "vm", dir)
			if err := os.RemoveAll(target); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(target, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := w.Write("vm", testRecord(7, 700, 70), true); err != nil {
				t.Fatalf("write after the directory was recreated: %v", err)
			}
			tree, err := ReadTree(filepath.Join(root, "vm"))
			if err != nil {
				t.Fatal(err)
			}
			if tree.PackageUJ != 700 || tree.DRAMUJ != 70 || tree.PackageMaxUJ != TreeMaxRangeUJ || tree.DRAMMaxUJ != TreeMaxRangeUJ {
				t.Errorf("tree = %+v", tree)
			}
			rec, err := ReadRecord(filepath.Join(root, "vm"))
			if err != nil || rec.Sequence != 7 {
				t.Errorf("record = %+v, %v", rec, err)
			}
			checkMode(t, target, 0o755)
			if left := tempFiles(t, root); len(left) != 0 {
				t.Errorf("temporary files left: %v", left)
			}
		})
	}
}

// openFDs counts this process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// TestWriterEMFILE: running out of descriptors while opening a VM's
// directories is an error naming the path, not a panic; nothing leaks,
// and writes work again once descriptors are back.
func TestWriterEMFILE(t *testing.T) {
	w, root := newTestWriter(t)
	// warm holds no directory, so the Writer has none to give back when
	// descriptors run out (see TestWriterAtFDLimitShedsHeldDirs)...
	w.SetDirBudget(NewDirBudget(0))
	if err := w.Write("warm", testRecord(1, 1, 1), true); err != nil {
		t.Fatal(err)
	}
	w.SetDirBudget(NewDirBudget(1000)) // ...and the limit is lowered below the budget: not the budget's doing
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	before := openFDs(t)
	low := old
	low.Cur = uint64(before + 1) // the VM dir and one zone, not the temp file (openFDs counts its own)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	defer syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old)
	var werr error
	func() {
		defer func() {
			if r := recover(); r != nil {
				werr = fmt.Errorf("panic: %v", r)
			}
		}()
		for i := range 3 {
			if werr = w.Write(fmt.Sprintf("vm%d", i), testRecord(1, 1, 1), true); werr != nil {
				return
			}
		}
	}()
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(werr, syscall.EMFILE) {
		t.Fatalf("Write with no descriptor left = %v, want EMFILE", werr)
	}
	if werr != nil && !strings.Contains(werr.Error(), root) {
		t.Errorf("error %q names no path under %s", werr, root)
	}
	held := 0 // by the VMs written under the low limit (warm's are in before)
	for name, d := range w.vms {
		if name == "warm" {
			continue
		}
		if d.vm >= 0 {
			held++
		}
		for _, fd := range d.zone {
			if fd >= 0 {
				held++
			}
		}
	}
	if after := openFDs(t); after != before+held {
		t.Errorf("%d descriptors open after the failed write, %d before and %d held (%v)", after, before, held, werr)
	}
	if left := tempFiles(t, root); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	for i := range 3 {
		if err := w.Write(fmt.Sprintf("vm%d", i), testRecord(2, 2, 2), true); err != nil {
			t.Fatalf("write once descriptors are back: %v", err)
		}
	}
}

// TestWriterReleasesDescriptors: Remove releases a VM's held directories,
// Close all of them and the root.
func TestWriterReleasesDescriptors(t *testing.T) {
	before := openFDs(t)
	w, err := NewWriter(filepath.Join(t.TempDir(), "share"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := w.Write(fmt.Sprintf("vm%d", i), testRecord(1, 1, 1), true); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := openFDs(t), before+1+5*3; got != want {
		t.Errorf("%d descriptors with 5 VMs held, want %d (root + 3 per VM)", got, want)
	}
	if err := w.Remove("vm0"); err != nil {
		t.Fatal(err)
	}
	if got, want := openFDs(t), before+1+4*3; got != want {
		t.Errorf("%d descriptors after Remove, want %d", got, want)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := openFDs(t); got != before {
		t.Errorf("%d descriptors after Close, want %d", got, before)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestParallelWritersOneRoot: four Writers on one root (as the host agent
// runs them), writing at once, sometimes into the same VM directory: each
// draws its own temporary name, so none fails and none leaves a file.
func TestParallelWritersOneRoot(t *testing.T) {
	root := filepath.Join(t.TempDir(), "share")
	var ws []*Writer
	for range 4 {
		w, err := NewWriter(root)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Close() })
		ws = append(ws, w)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(ws))
	for k, w := range ws {
		wg.Go(func() {
			for n := uint64(1); n <= 30; n++ {
				for _, vm := range []string{fmt.Sprintf("own%d", k), "shared"} {
					if err := w.Write(vm, testRecord(n, n, n), true); err != nil {
						errs[k] = err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	for k, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", k, err)
		}
	}
	if left := tempFiles(t, root); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if rec, err := ReadRecord(filepath.Join(root, "shared")); err != nil || rec.Sequence != 30 {
		t.Errorf("shared record = %+v, %v", rec, err)
	}
}

// TestHeldWriteAllocatesNothing: the held path's file writes allocate
// nothing (the record's JSON encoding is counted apart).
func TestHeldWriteAllocatesNothing(t *testing.T) {
	w, _ := newTestWriter(t)
	twoWrites(t, w)
	w.CheckEvery = 1 << 30
	d := w.vms["vm"]
	d.untilCheck = 1 << 30
	rec := testRecord(3, 3, 3)
	allocs := testing.AllocsPerRun(50, func() {
		if _, err := w.writeHeld(d, rec, true); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("held write: %v allocations, want 0", allocs)
	}
}

// TestWriterSweepsIdleDirs: a VM pruned through another Writer (the host
// agent prunes with one of its four) stops holding descriptors in the
// Writer that wrote it once the others have been written a few rounds.
func TestWriterSweepsIdleDirs(t *testing.T) {
	root := filepath.Join(t.TempDir(), "share")
	a, err := NewWriter(root)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := NewWriter(root)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := a.Write("gone", testRecord(1, 1, 1), true); err != nil {
		t.Fatal(err)
	}
	if err := b.Remove("gone"); err != nil {
		t.Fatal(err)
	}
	before := openFDs(t)
	for n := uint64(1); n <= 100; n++ {
		for i := range 10 {
			if err := a.Write(fmt.Sprintf("vm%d", i), testRecord(n, n, n), true); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, ok := a.vms["gone"]; ok {
		t.Error("the pruned VM is still held after 100 rounds of the others")
	}
	if got, want := openFDs(t), before+10*3-3; got != want {
		t.Errorf("%d descriptors open, want %d (the 10 VMs written, not the pruned one)", got, want)
	}
}
