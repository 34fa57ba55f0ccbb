package procsplit

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// A scan finds every process of a tree larger than one directory read,
// reads a stat line longer than its buffer, and names a process by what
// its stat says now: a renamed process (same pid and start time) and a
// reused pid get their new names, not the ones kept from the last scan.
func TestScanManyLongAndRenamed(t *testing.T) {
	f := newFakeProc(t)
	const n = 1000 // 24 bytes of directory entry each: several getdents64 calls
	for pid := 1; pid <= n; pid++ {
		f.setProc(pid, 1, "w", uint64(pid), 0, uint64(pid))
	}
	long := strings.Repeat("x", 3*statBufSize)
	f.setProc(n+1, 1, long, 7, 0, 99)
	mustWrite(t, f.root+"/"+"0000", "") // not a pid: leading zero
	mustMkdir(t, f.root+"/sys")
	s := NewScanner(f.root)
	procs, skipped, err := s.Scan(nil)
	if err != nil || skipped != 0 {
		t.Fatalf("scan: %v, %d skipped", err, skipped)
	}
	seen := map[int]Proc{}
	for _, p := range procs {
		seen[p.PID] = p
	}
	if len(seen) != n+1 || len(procs) != n+1 {
		t.Fatalf("%d processes (%d distinct), want %d", len(procs), len(seen), n+1)
	}
	if p := seen[n+1]; p.Comm != long || p.CPUTicks != 7 || p.StartTime != 99 {
		t.Fatalf("long stat line: comm of %d bytes, ticks %d, start %d", len(p.Comm), p.CPUTicks, p.StartTime)
	}
	if p := seen[42]; p.CPUTicks != 42 || p.Comm != "w" {
		t.Fatalf("pid 42: %+v", p)
	}

	f.setProc(42, 1, "renamed", 42, 0, 42) // prctl(PR_SET_NAME): same process
	f.setProc(43, 1, "reused", 1, 0, 5000) // pid 43 exited, reused
	f.setProc(44, 1, "bad\xff", 1, 0, 44)
	procs, _, err = s.Scan(procs[:0])
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		seen[p.PID] = p
	}
	for pid, want := range map[int]string{42: "renamed", 43: "reused", 44: "bad?", 45: "w"} {
		if got := seen[pid].Comm; got != want {
			t.Errorf("pid %d: comm %q, want %q", pid, got, want)
		}
	}
}

// A scan in steady state allocates almost nothing per process: the names
// of unchanged processes are reused.
func TestScanAllocations(t *testing.T) {
	f := newFakeProc(t)
	for pid := 1; pid <= 200; pid++ {
		f.setProc(pid, 1, "worker", uint64(pid), 0, uint64(pid))
	}
	s := NewScanner(f.root)
	procs, _, err := s.Scan(nil)
	if err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(5, func() {
		procs, _, _ = s.Scan(procs[:0])
	})
	// One path string per openat, and a few per scan; the old scanner made
	// a name per entry, a path, an os.File and a comm per process (~7).
	if per := allocs / 200; per > 2 {
		t.Fatalf("%.1f allocations per process per scan, want at most 2", per)
	}
}

// Kernel threads (PF_KTHREAD) are left out of a scan (their CPU time falls
// in [system]); a known one is not read again while its /proc entry is the
// same, and a pid reused by a user process (a new entry) is read and
// returned. pid 2 is not special: in a pid namespace it is a user process.
func TestScanSkipsKernelThreads(t *testing.T) {
	f := newFakeProc(t)
	f.setProc(1, 0, "init", 1, 1, 1)
	f.setProc(2, 1, "user-pid-2", 5, 0, 2)
	f.setKthread(3, "kworker/0:1", 50, 3)
	f.setKthread(4, "ksoftirqd/0", 60, 4)
	s := NewScanner(f.root)
	pids := func() []int {
		t.Helper()
		procs, skipped, err := s.Scan(nil)
		if err != nil || skipped != 0 {
			t.Fatalf("scan: %v, %d skipped", err, skipped)
		}
		var out []int
		for _, p := range procs {
			out = append(out, p.PID)
		}
		slices.Sort(out)
		return out
	}
	if got := pids(); !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("pids %v, want [1 2]: kernel threads left out, pid 2 kept", got)
	}
	// Same entry: not read again (a garbled stat would count as skipped).
	mustWrite(t, f.root+"/3/stat", "garbage")
	if got := pids(); !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("pids %v after the kthread's stat changed, want [1 2]", got)
	}
	// pid 4 exits and is reused by a user process: a new entry, read again.
	// (The new entry is made before the old one goes, so that a file
	// system that reuses inode numbers cannot give it the old one.)
	f.setProc(99, 1, "reused", 7, 0, 900)
	f.kill(4)
	if err := os.Rename(f.root+"/99", f.root+"/4"); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, f.root+"/4/stat", "4 (reused) S 1 4 4 0 -1 4194560 0 0 0 0 7 0 0 0 20 0 1 0 900 0 0 0\n")
	if got := pids(); !slices.Equal(got, []int{1, 2, 4}) {
		t.Fatalf("pids %v after pid 4 was reused, want [1 2 4]", got)
	}
}

// openFDs counts this process's open files.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestScanKeepsStatFilesOpen: on the real /proc, a scan keeps each
// process's stat file open (one open file per process, none for kernel
// threads) and the next scan reads it again, fresh: this test's own CPU
// time grows between two scans.
func TestScanKeepsStatFilesOpen(t *testing.T) {
	before := openFDs(t)
	s := NewScanner("/proc")
	procs, _, err := s.Scan(nil)
	if err != nil {
		t.Fatal(err)
	}
	if held := openFDs(t) - before; held < len(procs)*9/10 || held > len(procs)+2 {
		t.Errorf("%d files open after a scan of %d processes, want one per process", held, len(procs))
	}
	self := func(procs []Proc) uint64 {
		for _, p := range procs {
			if p.PID == os.Getpid() {
				return p.CPUTicks
			}
		}
		t.Fatal("this process is not in the scan")
		return 0
	}
	first := self(procs)
	for end := time.Now().Add(200 * time.Millisecond); time.Now().Before(end); {
	}
	if procs, _, err = s.Scan(procs[:0]); err != nil {
		t.Fatal(err)
	}
	if again := self(procs); again <= first {
		t.Errorf("this process's CPU time read %d ticks, then %d after 200 ms busy: the kept file was not read again", first, again)
	}
}

// TestScanClosesFilesOfGoneProcesses: on the real /proc, the files of
// processes that exited are closed by the next scan, which no longer
// lists them.
func TestScanClosesFilesOfGoneProcesses(t *testing.T) {
	s := NewScanner("/proc")
	var kids []*exec.Cmd
	for range 5 {
		c := exec.Command("sleep", "60")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		kids = append(kids, c)
	}
	defer func() {
		for _, c := range kids {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
	}()
	has := func(procs []Proc, pid int) bool {
		return slices.ContainsFunc(procs, func(p Proc) bool { return p.PID == pid })
	}
	procs, _, err := s.Scan(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range kids {
		if !has(procs, c.Process.Pid) {
			t.Fatalf("child %d not in the scan", c.Process.Pid)
		}
	}
	with := openFDs(t)
	for _, c := range kids {
		_ = c.Process.Kill()
		_ = c.Wait()
	}
	if procs, _, err = s.Scan(procs[:0]); err != nil {
		t.Fatal(err)
	}
	for _, c := range kids {
		if has(procs, c.Process.Pid) {
			t.Errorf("child %d, reaped, is still in the scan", c.Process.Pid)
		}
	}
	if closed := with - openFDs(t); closed < len(kids) {
		t.Errorf("%d files closed after %d processes exited, want at least %d", closed, len(kids), len(kids))
	}
}
