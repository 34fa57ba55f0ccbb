package share

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// writeRound writes every VM of names once (VM i through writers[i%len]),
// at sequence seq.
func writeRound(t *testing.T, writers []*Writer, names []string, seq uint64) {
	t.Helper()
	for i, n := range names {
		if err := writers[i%len(writers)].Write(n, testRecord(seq, 1000*seq+uint64(i), seq+uint64(i)), true); err != nil {
			t.Fatalf("round %d: %v", seq, err)
		}
	}
}

// checkRound checks every VM's record and energy files after writeRound.
func checkRound(t *testing.T, root string, names []string, seq uint64) {
	t.Helper()
	for i, n := range names {
		rec, err := ReadRecord(filepath.Join(root, n))
		if err != nil || rec.Sequence != seq {
			t.Fatalf("round %d: %s: record %+v, %v", seq, n, rec, err)
		}
		for _, f := range []struct {
			dir  string
			want uint64
		}{{PackageZoneDir, 1000*seq + uint64(i)}, {DRAMZoneDir, seq + uint64(i)}} {
			p := filepath.Join(root, n, f.dir, EnergyFile)
			if got, want := readString(t, p), strconv.FormatUint(f.want, 10)+"\n"; got != want {
				t.Fatalf("round %d: %s = %q, want %q", seq, p, got, want)
			}
		}
		for _, p := range []string{filepath.Join(n, PackageZoneDir, NameFile), filepath.Join(n, DRAMZoneDir, MaxRangeFile)} {
			if _, err := os.Lstat(filepath.Join(root, p)); err != nil {
				t.Fatalf("round %d: %v", seq, err)
			}
		}
	}
}

// TestWriterDirBudget: Writers sharing a budget smaller than their VMs'
// directories hold at most the budget, write every VM correctly through
// the full check and the hot path alike, keep no descriptor beyond what
// they hold between writes, and give every place back on Close.
func TestWriterDirBudget(t *testing.T) {
	const vms = 12 // 36 directories with dram
	for _, budget := range []int{0, 1, 5, 36, 1000} {
		t.Run(fmt.Sprintf("budget %d", budget), func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "share")
			b := NewDirBudget(budget)
			before := openFDs(t)
			var writers []*Writer
			for range 2 {
				w, err := NewWriter(root)
				if err != nil {
					t.Fatal(err)
				}
				w.SetDirBudget(b)
				defer w.Close()
				writers = append(writers, w)
			}
			var names []string
			for i := range vms {
				names = append(names, fmt.Sprintf("vm%02d", i))
			}
			for seq := uint64(1); seq <= uint64(2*DefaultCheckEvery+3); seq++ {
				writeRound(t, writers, names, seq)
				checkRound(t, root, names, seq)
				if b.Held() > budget {
					t.Fatalf("round %d: %d directories held, budget %d", seq, b.Held(), budget)
				}
				if want := min(budget, 3*vms); b.Held() != want {
					t.Fatalf("round %d: %d directories held, want %d (all the budget allows)", seq, b.Held(), want)
				}
				if got, want := openFDs(t), before+len(writers)+b.Held(); got != want {
					t.Fatalf("round %d: %d descriptors open, want %d (%d roots, %d held)", seq, got, want, len(writers), b.Held())
				}
			}
			if left := tempFiles(t, root); len(left) != 0 {
				t.Errorf("temporary files left: %v", left)
			}
			for _, w := range writers {
				w.Close()
			}
			if b.Held() != 0 || openFDs(t) != before {
				t.Errorf("after Close: %d held, %d descriptors open (%d before)", b.Held(), openFDs(t), before)
			}
		})
	}
}

// TestWriterBeyondBudgetRefusesLinks: a VM whose directories are opened
// for each write (no place in the budget) is as safe as a held one: a VM
// or zone directory replaced by a symlink to the outside is refused at the
// next write, and nothing is written outside the root.
func TestWriterBeyondBudgetRefusesLinks(t *testing.T) {
	for _, dir := range []string{"", PackageZoneDir, DRAMZoneDir} {
		t.Run("dir "+dir, func(t *testing.T) {
			w, root := newTestWriter(t)
			w.SetDirBudget(NewDirBudget(0))
			outside := t.TempDir()
			for seq := uint64(1); seq <= 2; seq++ { // the second is on the hot path
				if err := w.Write("vm", testRecord(seq, 1, 1), true); err != nil {
					t.Fatal(err)
				}
			}
			if d := w.vms["vm"]; d == nil || d.untilCheck == 0 || d.vm >= 0 {
				t.Fatalf("want the hot path with no directory held, got %+v", d)
			}
			target := filepath.Join(root, "vm", dir)
			if err := os.Rename(target, target+".old"); err != nil {
				t.Fatal(err)
			}
			mustSymlink(t, outside, target)
			err := w.Write("vm", testRecord(3, 1, 1), true)
			if !errors.Is(err, ErrUnsafe) {
				t.Fatalf("write through a symlinked %q = %v, want ErrUnsafe", target, err)
			}
			if es, _ := os.ReadDir(outside); len(es) != 0 {
				t.Errorf("written outside the root: %v", es)
			}
		})
	}
}

// TestWriterUnderLowNoFileLimit: under an open-files limit far below 3
// descriptors per VM (a systemd unit's LimitNOFILE=), four Writers on one
// root, with the budget NewWriter gives, write every VM, on every round,
// with no EMFILE. It runs in a child process, whose limit it lowers
// before the first Writer.
func TestWriterUnderLowNoFileLimit(t *testing.T) {
	const limit, vms = 400, 300 // 900 directories
	if os.Getenv("VIRTWATT_TEST_LOW_NOFILE") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestWriterUnderLowNoFileLimit$", "-test.count=1")
		cmd.Env = append(os.Environ(), "VIRTWATT_TEST_LOW_NOFILE=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		return
	}
	rl := syscall.Rlimit{Cur: limit, Max: limit}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(t.TempDir(), "share")
	var writers []*Writer
	for range 4 {
		w, err := NewWriter(root)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		writers = append(writers, w)
	}
	var names []string
	for i := range vms {
		names = append(names, fmt.Sprintf("vm%03d", i))
	}
	for seq := uint64(1); seq <= DefaultCheckEvery+2; seq++ {
		writeRound(t, writers, names, seq)
	}
	checkRound(t, root, names, DefaultCheckEvery+2)
	b := ProcessDirBudget()
	if b.Held() == 0 || b.Held() > limit-ReservedFDs {
		t.Errorf("%d directories held under a limit of %d", b.Held(), limit)
	}
	t.Logf("budget %d, held %d, open %d", b.limitNow(), b.Held(), openFDs(t))
}

// TestWriterOutOfFDsLowersBudget: when descriptors run out below the
// budget (another part of the process took them), the write still lands
// (held directories are given back for it), the budget stops below what
// was held, and once descriptors are back every VM is written again, the
// ones beyond the new budget through the per-write path.
func TestWriterOutOfFDsLowersBudget(t *testing.T) {
	w, root := newTestWriter(t)
	b := NewDirBudget(1000)
	w.SetDirBudget(b)
	var names []string
	for i := range 8 {
		names = append(names, fmt.Sprintf("vm%d", i))
	}
	writeRound(t, []*Writer{w}, names[:4], 1)
	held := b.Held()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	low := old
	low.Cur = uint64(openFDs(t) + 1)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	werr := w.Write(names[4], testRecord(1, 1, 1), true)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	if werr != nil {
		t.Fatalf("write with one descriptor left = %v, want it written", werr)
	}
	if b.limitNow() != b.Held() || b.Held() >= held {
		t.Errorf("after EMFILE: limit %d, held %d (held %d before)", b.limitNow(), b.Held(), held)
	}
	for seq := uint64(2); seq <= 4; seq++ {
		writeRound(t, []*Writer{w}, names, seq)
		checkRound(t, root, names, seq)
	}
	if b.Held() > b.limitNow() {
		t.Errorf("held %d over the lowered limit %d", b.Held(), b.limitNow())
	}
}

// TestWriterAtFDLimitShedsHeldDirs: when the process's descriptors run
// out with the budget all held (the rest of the process grew into it),
// the Writer gives held directories back and every write still lands —
// beyond-budget VMs included, which would otherwise fail at every write
// — and the budget falls to what stays held; once the limit is back
// nothing is left open beyond what is held.
func TestWriterAtFDLimitShedsHeldDirs(t *testing.T) {
	for _, free := range []int{0, 1, 3} {
		t.Run(fmt.Sprintf("%d free", free), func(t *testing.T) {
			w, root := newTestWriter(t)
			b := NewDirBudget(6) // VMs a and b held, c and d per write
			w.SetDirBudget(b)
			names := []string{"a", "b", "c", "d"}
			for seq := uint64(1); seq <= 2; seq++ {
				writeRound(t, []*Writer{w}, names, seq)
			}
			if b.Held() != 6 {
				t.Fatalf("%d held before the limit, want 6", b.Held())
			}
			var old syscall.Rlimit
			if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
				t.Fatal(err)
			}
			base := openFDs(t) - 1 - b.Held() // openFDs counts its own
			low := old
			low.Cur = uint64(base + b.Held() + free)
			if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
				t.Fatal(err)
			}
			var errs []error
			for seq := uint64(3); seq <= 3+DefaultCheckEvery; seq++ {
				for i, n := range names {
					if err := w.Write(n, testRecord(seq, 1000*seq+uint64(i), seq+uint64(i)), true); err != nil {
						errs = append(errs, err)
					}
				}
			}
			if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
				t.Fatal(err)
			}
			if len(errs) != 0 {
				t.Fatalf("%d writes lost at the limit with %d descriptors free: %v", len(errs), free, errs)
			}
			checkRound(t, root, names, 3+DefaultCheckEvery)
			if b.limitNow() != b.Held() && b.limitNow() != 6 || free == 0 && b.Held() >= 6 {
				t.Errorf("limit %d, held %d after the limit with %d free, want the budget lowered to what stays held", b.limitNow(), b.Held(), free)
			}
			t.Logf("%d free: limit %d, held %d", free, b.limitNow(), b.Held())
			if got, want := openFDs(t)-1, base+b.Held(); got != want {
				t.Errorf("%d descriptors open, want %d (%d held)", got, want, b.Held())
			}
			if left := tempFiles(t, root); len(left) != 0 {
				t.Errorf("temporary files left: %v", left)
			}
		})
	}
}
