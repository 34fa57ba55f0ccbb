// Package lifecycle drives the built agents through their start and stop:
// one host per state file and share root, nothing written by a start that
// fails, defined signals, and measurement that keeps its tick under a low
// file-descriptor limit with hundreds of idle connections.
package lifecycle

import (
	"bufio"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/internal/lifecycle"
	"github.com/virtwatt/virtwatt/share"
	"github.com/virtwatt/virtwatt/tests/fakerapl"
	"github.com/virtwatt/virtwatt/tests/testbin"
)

// hostBin and guestBin are built once for the package by TestMain.
var hostBin, guestBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "virtwatt-lifecycle-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	hostBin, guestBin = filepath.Join(dir, "virtwatt-host"), filepath.Join(dir, "virtwatt-guest")
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	for _, b := range []struct{ out, pkg, cgo string }{
		{hostBin, "./cmd/virtwatt-host", "1"},
		{guestBin, "./cmd/virtwatt-guest", "0"},
	} {
		cmd := exec.Command("go", "build", "-o", b.out, b.pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED="+b.cgo)
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go build %s: %v\n%s", b.pkg, err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	interval = 200 * time.Millisecond
	demoVM   = "demo-web"
)

// paths are one host's state file and share root.
type paths struct{ state, shares string }

func newPaths(t *testing.T) paths {
	dir := t.TempDir()
	return paths{state: filepath.Join(dir, "state", "state.json"), shares: filepath.Join(dir, "vms")}
}

func demoArgs(p paths, addr string, extra ...string) []string {
	return append([]string{hostBin, "--demo", "--share-root", p.shares, "--state-file", p.state,
		"--web.listen-address", addr, "--interval", interval.String()}, extra...)
}

// sequence is the demo VM's record sequence (0 when unreadable).
func sequence(p paths) uint64 {
	rec, err := share.ReadRecord(filepath.Join(p.shares, demoVM))
	if err != nil {
		return 0
	}
	return rec.Sequence
}

// fileState is what a snapshot keeps of a file.
type fileState struct {
	mtime time.Time
	sum   [32]byte
}

// snapshot records every regular file under the roots.
func snapshot(t *testing.T, roots ...string) map[string]fileState {
	t.Helper()
	out := map[string]fileState{}
	for _, root := range roots {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.Type().IsRegular() {
				return nil
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			out[path] = fileState{mtime: fi.ModTime(), sum: sha256.Sum256(b)}
			return nil
		})
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	return out
}

func sameFiles(t *testing.T, what string, before, after map[string]fileState) {
	t.Helper()
	for p, b := range before {
		a, ok := after[p]
		switch {
		case !ok:
			t.Errorf("%s: %s was removed", what, p)
		case a != b:
			t.Errorf("%s: %s changed (mtime %v → %v)", what, p, b.mtime, a.mtime)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("%s: %s was created", what, p)
		}
	}
}

// TestSecondInstanceRefused: a second host on the same state file, the same
// share root, or both, exits non-zero within 2 s with an error that names
// the running one's PID, and changes no file of it. The first one is
// stopped (SIGSTOP, still holding its locks) so that its own writes do not
// hide the second's.
func TestSecondInstanceRefused(t *testing.T) {
	first := newPaths(t)
	host := testbin.Start(t, demoArgs(first, testbin.FreePort(t))...)
	testbin.WaitFor(t, "the first host's records", 10*time.Second, func() bool { return sequence(first) >= 2 })
	pid := host.Cmd.Process.Pid

	other := newPaths(t)
	for _, tc := range []struct {
		name string
		p    paths
		lock string // the lock file the error names
	}{
		{"same state file and share root", first, first.state + ".lock"},
		{"same state file", paths{state: first.state, shares: other.shares}, first.state + ".lock"},
		{"same share root", paths{state: other.state, shares: first.shares}, filepath.Join(first.shares, ".virtwatt.lock")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := host.Cmd.Process.Signal(syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			defer host.Cmd.Process.Signal(syscall.SIGCONT)
			time.Sleep(2 * interval) // a write in flight lands
			before := snapshot(t, first.state, first.state+".lock", first.shares, other.state)
			t0 := time.Now()
			second := testbin.Start(t, demoArgs(tc.p, testbin.FreePort(t))...)
			code, exited := second.Wait(2 * time.Second)
			if !exited {
				t.Fatalf("the second instance still runs after 2 s")
			}
			if code == 0 {
				t.Fatalf("the second instance exited 0")
			}
			log := second.Log()
			if !strings.Contains(log, fmt.Sprintf("PID %d", pid)) || !strings.Contains(log, tc.lock) {
				t.Fatalf("the second instance's error names neither PID %d nor %s:\n%s", pid, tc.lock, log)
			}
			t.Logf("refused in %v", time.Since(t0).Round(time.Millisecond))
			sameFiles(t, "second instance", before, snapshot(t, first.state, first.state+".lock", first.shares, other.state))
			if _, err := os.Stat(other.state); err == nil {
				t.Errorf("the second instance wrote its own state file %s", other.state)
			}
		})
	}
	// The first one goes on.
	seq := sequence(first)
	testbin.WaitFor(t, "the first host to go on", 5*time.Second, func() bool { return sequence(first) > seq })
}

// TestFailedStartWritesNothing: a host that cannot bind its address or
// load its web config exits non-zero and has written no share and no state.
func TestFailedStartWritesNothing(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		name  string
		addr  string
		extra []string
		want  string
	}{
		{"busy port", busy.Addr().String(), nil, busy.Addr().String()},
		{"missing web config", "127.0.0.1:0", []string{"--web.config.file", "/nonexistent/web.yml"}, "/nonexistent/web.yml"},
		{"no connection allowed", "127.0.0.1:0", []string{"--web.max-connections", "0"}, "web_max_connections"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPaths(t)
			h := testbin.Start(t, demoArgs(p, tc.addr, tc.extra...)...)
			code, exited := h.Wait(5 * time.Second)
			if !exited || code == 0 {
				t.Fatalf("exited %v with code %d; want a failure at start", exited, code)
			}
			if !strings.Contains(h.Log(), tc.want) {
				t.Fatalf("the error does not name %s:\n%s", tc.want, h.Log())
			}
			if _, err := os.Stat(p.state); err == nil {
				t.Errorf("the state file %s was written", p.state)
			}
			entries, _ := os.ReadDir(p.shares)
			for _, e := range entries {
				if e.IsDir() {
					t.Errorf("a share directory %s was written", e.Name())
				}
			}
		})
	}
}

// TestHostSignals: SIGHUP leaves the host running (one log line, ticks go
// on); SIGTERM saves the state and exits 0 within a few seconds.
func TestHostSignals(t *testing.T) {
	p := newPaths(t)
	// A long interval: the state file changes after SIGTERM only by the final save.
	h := testbin.Start(t, hostBin, "--demo", "--share-root", p.shares, "--state-file", p.state,
		"--web.listen-address", "127.0.0.1:0", "--interval", "1m")
	testbin.WaitFor(t, "the first tick", 10*time.Second, func() bool { return sequence(p) >= 1 })
	if err := h.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if !h.Running() {
		t.Fatalf("SIGHUP stopped the host")
	}
	if n := strings.Count(h.Log(), lifecycle.HUPMessage); n != 1 {
		t.Fatalf("SIGHUP logged %d times, want once:\n%s", n, h.Log())
	}
	fi, err := os.Stat(p.state)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // so that a new mtime differs
	sent := time.Now()
	if err := h.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, exited := h.Wait(5 * time.Second)
	if !exited || code != 0 {
		t.Fatalf("after SIGTERM: exited %v, code %d; want exit 0 within 5 s", exited, code)
	}
	t.Logf("stopped in %v", time.Since(sent).Round(time.Millisecond))
	after, err := os.Stat(p.state)
	if err != nil {
		t.Fatal(err)
	}
	if !after.ModTime().After(fi.ModTime()) {
		t.Fatalf("the state file was not saved at SIGTERM (mtime %v, before %v)", after.ModTime(), fi.ModTime())
	}
	var st map[string]any
	if b, err := os.ReadFile(p.state); err != nil || json.Unmarshal(b, &st) != nil {
		t.Fatalf("the final state file is not valid JSON: %v", err)
	}
}

// TestGuestSignals: the same for the guest: SIGHUP is logged and ignored,
// SIGTERM exits 0.
func TestGuestSignals(t *testing.T) {
	dir := t.TempDir()
	jsonl := filepath.Join(dir, "samples.jsonl")
	g := testbin.Start(t, guestBin, "--share-dir", filepath.Join(dir, "share"), "--web.listen-address", "127.0.0.1:0",
		"--poll-interval", "100ms", "--top-processes", "0", "--jsonl", jsonl)
	testbin.WaitFor(t, "the guest's first sample", 10*time.Second, func() bool { return lines(jsonl) > 0 })
	if err := g.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	n := lines(jsonl)
	time.Sleep(500 * time.Millisecond)
	if !g.Running() {
		t.Fatalf("SIGHUP stopped the guest")
	}
	if lines(jsonl) <= n {
		t.Fatalf("the guest stopped polling after SIGHUP")
	}
	if c := strings.Count(g.Log(), lifecycle.HUPMessage); c != 1 {
		t.Fatalf("SIGHUP logged %d times, want once:\n%s", c, g.Log())
	}
	if err := g.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code, exited := g.Wait(5 * time.Second); !exited || code != 0 {
		t.Fatalf("after SIGTERM: exited %v, code %d; want exit 0 within 5 s", exited, code)
	}
}

func lines(path string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		n++
	}
	return n
}

// lastUpdate is the last JSON line's last_update (zero when none).
func lastUpdate(t *testing.T, path string) time.Time {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		return time.Time{}
	}
	ls := strings.Split(strings.TrimSpace(string(b)), "\n")
	var rec struct {
		Up         bool       `json:"up"`
		LastUpdate *time.Time `json:"last_update"`
	}
	if json.Unmarshal([]byte(ls[len(ls)-1]), &rec) != nil || rec.LastUpdate == nil || !rec.Up {
		return time.Time{}
	}
	return *rec.LastUpdate
}

// idle opens n connections to addr, half of them with a request begun and
// never finished, and closes them at the end of the test.
func idle(t *testing.T, addr string, n int) {
	t.Helper()
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for i := range n {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			break // the kernel's queue is full: the cap at work
		}
		if i%2 == 0 {
			fmt.Fprintf(c, "GET /metrics HTTP/1.1\r\nHost: x\r\n")
		}
		conns = append(conns, c)
	}
	if len(conns) < n*2/3 {
		t.Fatalf("only %d of %d connections to %s opened", len(conns), n, addr)
	}
}

// TestMeasurementUnderIdleConnections: both agents under a 256-descriptor
// limit, each with 300 idle connections: the host's record advances every
// tick, the guest keeps following it, and neither runs out of descriptors.
func TestMeasurementUnderIdleConnections(t *testing.T) {
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		if os.Getenv("VIRTWATT_REQUIRE_TOOLS") != "" {
			t.Fatal("prlimit (util-linux) not found and VIRTWATT_REQUIRE_TOOLS is set")
		}
		t.Skip("prlimit (util-linux) not installed: no descriptor limit to run under (CI sets VIRTWATT_REQUIRE_TOOLS)")
	}
	limit := []string{prlimit, "--nofile=256:256", "--"}
	p := newPaths(t)
	hostAddr, guestAddr := testbin.FreePort(t), testbin.FreePort(t)
	host := testbin.Start(t, append(limit, demoArgs(p, hostAddr)...)...)
	testbin.WaitFor(t, "the host endpoint", 10*time.Second, func() bool { return testbin.Up(hostAddr) })
	jsonl := filepath.Join(t.TempDir(), "samples.jsonl")
	guest := testbin.Start(t, append(limit, guestBin, "--share-dir", filepath.Join(p.shares, demoVM),
		"--web.listen-address", guestAddr, "--poll-interval", "100ms", "--top-processes", "0", "--jsonl", jsonl)...)
	testbin.WaitFor(t, "the guest to follow the share", 10*time.Second, func() bool { return !lastUpdate(t, jsonl).IsZero() })

	// The guest first (its host unhindered), then the host too.
	t.Run("guest", func(t *testing.T) {
		idle(t, guestAddr, 300)
		before, n := lastUpdate(t, jsonl), lines(jsonl)
		time.Sleep(2 * time.Second)
		if got := lines(jsonl) - n; got < 10 {
			t.Errorf("the guest wrote %d samples in 2 s at a 100ms poll interval", got)
		}
		if g := lastUpdate(t, jsonl); !g.After(before) {
			t.Errorf("the guest's samples stopped following the share: last update %v, before %v", g, before)
		}
		if strings.Contains(guest.Log(), "too many open files") {
			t.Errorf("the guest ran out of file descriptors:\n%s", guest.Log())
		}
	})
	t.Run("host", func(t *testing.T) {
		idle(t, hostAddr, 300)
		// Every tick writes the record: over 3 s (15 ticks) the sequence
		// must never stall for more than 3 ticks.
		seq, moved := sequence(p), time.Now()
		start := seq
		for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(interval / 4) {
			if s := sequence(p); s > seq {
				seq, moved = s, time.Now()
			}
			if time.Since(moved) > 3*interval {
				t.Fatalf("the host's record stalled at sequence %d for %v", seq, time.Since(moved).Round(time.Millisecond))
			}
		}
		if ticks := seq - start; ticks < 10 {
			t.Fatalf("only %d records written in 3 s at a %v interval", ticks, interval)
		} else {
			t.Logf("%d records in 3 s under 300 idle connections", ticks)
		}
		if strings.Contains(host.Log(), "too many open files") {
			t.Errorf("the host ran out of file descriptors:\n%s", host.Log())
		}
	})
}

// TestGuestFailedStartWritesNothing: a guest whose endpoint cannot start
// (busy port, bad web config) exits non-zero before its first sample: no
// output line is written.
func TestGuestFailedStartWritesNothing(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		name  string
		addr  string
		extra []string
		want  string
	}{
		{"busy port", busy.Addr().String(), nil, busy.Addr().String()},
		{"missing web config", "127.0.0.1:0", []string{"--web.config.file", "/nonexistent/web.yml"}, "/nonexistent/web.yml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			jsonl := filepath.Join(dir, "samples.jsonl")
			argv := append([]string{guestBin, "--share-dir", filepath.Join(dir, "share"), "--web.listen-address", tc.addr,
				"--poll-interval", "100ms", "--top-processes", "0", "--jsonl", jsonl}, tc.extra...)
			g := testbin.Start(t, argv...)
			code, exited := g.Wait(5 * time.Second)
			if !exited || code == 0 {
				t.Fatalf("exited %v with code %d; want a failure at start", exited, code)
			}
			if !strings.Contains(g.Log(), tc.want) {
				t.Fatalf("the error does not name %s:\n%s", tc.want, g.Log())
			}
			if n := lines(jsonl); n != 0 {
				t.Fatalf("%d samples written by a guest that could not start", n)
			}
		})
	}
}

// TestHostStopsWhenStuck: a /proc/stat turned into a FIFO nobody writes
// (a read that would never return) does not make the host ignore SIGTERM:
// the tick refuses it, or Main gives up waiting for the tick after its
// stop bound; either way the host exits within seconds and the state file
// it leaves is the last completed tick's, whole.
func TestHostStopsWhenStuck(t *testing.T) {
	dir := t.TempDir()
	sys := filepath.Join(dir, "sys")
	if err := os.MkdirAll(sys, 0o755); err != nil {
		t.Fatal(err)
	}
	tree, err := fakerapl.New(sys, fakerapl.Standard(1, 40, 4, time.Hour), 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	proc := filepath.Join(dir, "proc")
	if err := os.MkdirAll(proc, 0o755); err != nil {
		t.Fatal(err)
	}
	stat := filepath.Join(proc, "stat")
	if err := os.WriteFile(stat, []byte("cpu  1000 0 1000 2000 0 0 0 0 0 0\ncpu0 1000 0 1000 2000 0 0 0 0 0 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := paths{state: filepath.Join(dir, "state.json"), shares: filepath.Join(dir, "vms")}
	h := testbin.Start(t, hostBin, "--libvirt-uri", "test:///default", "--meter", "powercap",
		"--powercap-root", tree.Root(), "--proc-root", proc, "--share-root", p.shares, "--state-file", p.state,
		"--web.listen-address", "127.0.0.1:0", "--interval", interval.String())
	testbin.WaitFor(t, "the first state save", 15*time.Second, func() bool { _, err := os.Stat(p.state); return err == nil })
	fifo := filepath.Join(proc, "stat.fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(fifo, stat); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * interval) // the next tick opens it and waits for a writer
	if !h.Running() {
		t.Fatalf("the host exited before SIGTERM:\n%s", h.Log())
	}
	sent := time.Now()
	if err := h.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if _, exited := h.Wait(8 * time.Second); !exited {
		t.Fatalf("the host ignored SIGTERM for 8 s while a tick was stuck")
	}
	t.Logf("stopped %v after SIGTERM, exit code %d", time.Since(sent).Round(time.Millisecond), h.Cmd.ProcessState.ExitCode())
	var st map[string]any
	if b, err := os.ReadFile(p.state); err != nil || json.Unmarshal(b, &st) != nil {
		t.Fatalf("the state file is not whole after the stop: %v", err)
	}
}

// TestHostStopsWithLibvirtHung: libvirtd that accepts the connection and
// never answers (a wedged daemon) keeps a libvirt call stuck in the
// background; SIGTERM still stops the host within a few seconds, exit 0.
func TestHostStopsWithLibvirtHung(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "libvirt-sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // read nothing, answer nothing
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	}()
	sys := filepath.Join(dir, "sys")
	if err := os.MkdirAll(sys, 0o755); err != nil {
		t.Fatal(err)
	}
	tree, err := fakerapl.New(sys, fakerapl.Standard(1, 40, 4, time.Hour), 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	proc := filepath.Join(dir, "proc")
	if err := os.MkdirAll(proc, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(proc, "stat"), []byte("cpu  1000 0 1000 2000 0 0 0 0 0 0\ncpu0 1000 0 1000 2000 0 0 0 0 0 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := testbin.FreePort(t)
	h := testbin.Start(t, hostBin, "--libvirt-uri", "qemu+unix:///system?socket="+sock, "--meter", "powercap",
		"--powercap-root", tree.Root(), "--proc-root", proc, "--share-root", filepath.Join(dir, "vms"),
		"--state-file", filepath.Join(dir, "state.json"), "--web.listen-address", addr, "--interval", interval.String())
	testbin.WaitFor(t, "the host endpoint", 10*time.Second, func() bool { return testbin.Up(addr) })
	time.Sleep(3 * interval) // the first tick's libvirt call is stuck
	if !h.Running() {
		t.Fatalf("the host exited before SIGTERM:\n%s", h.Log())
	}
	sent := time.Now()
	if err := h.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, exited := h.Wait(5 * time.Second)
	if !exited {
		t.Fatalf("the host ignored SIGTERM for 5 s while a libvirt call was stuck")
	}
	if code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
	t.Logf("stopped %v after SIGTERM", time.Since(sent).Round(time.Millisecond))
}
