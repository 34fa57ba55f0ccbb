package share

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestWriterPlantedTypesEveryBudget: whether a VM's directories are held
// (budget 1000), opened for each write (budget 0) or some of each (1, 2),
// a FIFO, device, socket, regular file or symbolic link (outside the
// root, inside it, relative) planted where the VM or a zone directory was
// is refused with ErrUnsafe within CheckEvery writes, never blocks a
// write, gets nothing written outside the root, and leaves no descriptor
// open beyond what was before.
func TestWriterPlantedTypesEveryBudget(t *testing.T) {
	kinds := map[string]func(t *testing.T, p, outside string){
		"fifo": func(t *testing.T, p, _ string) {
			if err := unix.Mkfifo(p, 0o644); err != nil {
				t.Fatal(err)
			}
		},
		"file": func(t *testing.T, p, _ string) { os.WriteFile(p, []byte("x"), 0o644) },
		"chardev": func(t *testing.T, p, _ string) {
			if err := unix.Mknod(p, unix.S_IFCHR|0o644, int(unix.Mkdev(1, 3))); err != nil {
				t.Skip(err)
			}
		},
		"socket": func(t *testing.T, p, _ string) {
			l, err := net.Listen("unix", p)
			if err != nil {
				t.Skip(err)
			}
			t.Cleanup(func() { l.Close() })
		},
		"symlink-out": func(t *testing.T, p, outside string) { os.Symlink(outside, p) },
		"symlink-in":  func(t *testing.T, p, _ string) { os.Symlink(filepath.Dir(p)+".old", p) },
		"symlink-rel": func(t *testing.T, p, _ string) { os.Symlink("../../..", p) },
	}
	for _, budget := range []int{0, 1, 2, 1000} {
		for _, dir := range []string{"", PackageZoneDir, DRAMZoneDir} {
			for kind, plant := range kinds {
				t.Run(fmt.Sprintf("b%d/%q/%s", budget, dir, kind), func(t *testing.T) {
					w, root := newTestWriter(t)
					b := NewDirBudget(budget)
					w.SetDirBudget(b)
					outside := t.TempDir()
					for seq := uint64(1); seq <= 2; seq++ {
						if err := w.Write("vm", testRecord(seq, 1, 1), true); err != nil {
							t.Fatal(err)
						}
					}
					target := filepath.Join(root, "vm", dir)
					if dir == "" {
						target = filepath.Join(root, "vm")
					}
					if err := os.Rename(target, target+".old"); err != nil {
						t.Fatal(err)
					}
					plant(t, target, outside)
					before := openFDs(t)
					done := make(chan error, 1)
					go func() {
						var err error
						for seq := uint64(3); seq <= 3+uint64(DefaultCheckEvery); seq++ {
							if err = w.Write("vm", testRecord(seq, 1, 1), true); err != nil {
								break
							}
						}
						done <- err
					}()
					var err error
					select {
					case err = <-done:
					case <-time.After(5 * time.Second):
						t.Fatal("hang")
					}
					if !errors.Is(err, ErrUnsafe) {
						t.Errorf("err %v, want ErrUnsafe", err)
					}
					if es, _ := os.ReadDir(outside); len(es) != 0 {
						t.Errorf("written outside: %v", es)
					}
					if got := openFDs(t); got > before {
						t.Errorf("fds %d > %d before (held %d)", got, before, b.Held())
					}
					if b.Held() < 0 || b.Held() > budget {
						t.Errorf("held %d", b.Held())
					}
				})
			}
		}
	}
}

// TestWriterFDsAfterFailedWrites: whatever the budget, writes that fail
// (a full disk, at any file of the write, on the hot path or the full
// check) leave open exactly the root and what the budget says is held,
// and Close leaves nothing.
func TestWriterFDsAfterFailedWrites(t *testing.T) {
	for _, budget := range []int{0, 1, 2, 4, 1000} {
		t.Run(fmt.Sprint(budget), func(t *testing.T) {
			before := openFDs(t)
			root := filepath.Join(t.TempDir(), "share")
			w, err := NewWriter(root)
			if err != nil {
				t.Fatal(err)
			}
			b := NewDirBudget(budget)
			w.SetDirBudget(b)
			fail := 0
			w.write = func(fd int, data []byte) error {
				if fail > 0 {
					fail--
					return syscall.ENOSPC
				}
				return writeAll(fd, data)
			}
			for seq := uint64(1); seq <= 40; seq++ {
				for i := range 3 {
					if seq%7 == uint64(i) {
						fail = int(seq % 3)
					}
					_ = w.Write(fmt.Sprintf("vm%d", i), testRecord(seq, seq, seq), seq%2 == 0)
					if got, want := openFDs(t), before+1+b.Held(); got != want {
						t.Fatalf("seq %d vm%d: %d fds, want %d", seq, i, got, want)
					}
				}
			}
			w.Close()
			if got := openFDs(t); got != before || b.Held() != 0 {
				t.Fatalf("after close %d fds (before %d), held %d", got, before, b.Held())
			}
			if left := tempFiles(t, root); len(left) != 0 {
				t.Errorf("temps: %v", left)
			}
		})
	}
}

// TestWritersShareBudgetUnderAttack: four Writers sharing a small budget
// (run it with -race), writing, removing and rewriting VMs while a
// stranger renames their directories and plants symlinks to the outside:
// the budget never goes below 0 or above its limit, nothing is written
// outside, and every place comes back on Close.
func TestWritersShareBudgetUnderAttack(t *testing.T) {
	root := filepath.Join(t.TempDir(), "share")
	b := NewDirBudget(7)
	var ws []*Writer
	for range 4 {
		w, err := NewWriter(root)
		if err != nil {
			t.Fatal(err)
		}
		w.SetDirBudget(b)
		w.CheckEvery = 3
		ws = append(ws, w)
	}
	outside := t.TempDir()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			vm := filepath.Join(root, fmt.Sprintf("vm%d", i%8))
			p := filepath.Join(vm, []string{"", PackageZoneDir, DRAMZoneDir}[i%3])
			if i%3 == 0 {
				p = vm
			}
			os.Rename(p, p+fmt.Sprint(".moved", i))
			os.Symlink(outside, p)
			time.Sleep(200 * time.Microsecond)
			os.Remove(p)
		}
	})
	for k, w := range ws {
		wg.Go(func() {
			for n := uint64(1); n <= 300; n++ {
				for v := k; v < 8; v += 4 {
					_ = w.Write(fmt.Sprintf("vm%d", v), testRecord(n, n, n), n%3 != 0)
				}
				if n%50 == 0 {
					_ = w.Remove(fmt.Sprintf("vm%d", k))
				}
			}
		})
	}
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	if b.Held() > 7 || b.Held() < 0 {
		t.Errorf("held %d", b.Held())
	}
	for _, w := range ws {
		w.Close()
	}
	if b.Held() != 0 {
		t.Errorf("after close held %d", b.Held())
	}
	if es, _ := os.ReadDir(outside); len(es) != 0 {
		t.Errorf("written outside: %v", es)
	}
}
