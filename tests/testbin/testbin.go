// Package testbin builds virtwatt's real binaries and drives them from tests:
// start a process with its log captured (shown when the test fails), wait
// for its endpoint, scrape it. Tests that run the agents as a user would
// share it instead of each carrying a copy.
package testbin

import (
	"bufio"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// repoRoot is the module root, found from this file's path.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Build compiles virtwatt-host (cgo) and virtwatt-guest (static) into a
// temporary directory and returns their paths.
func Build(t testing.TB) (host, guest string) {
	t.Helper()
	dir := t.TempDir()
	host, guest = filepath.Join(dir, "virtwatt-host"), filepath.Join(dir, "virtwatt-guest")
	for _, b := range []struct{ out, pkg, cgo string }{
		{host, "./cmd/virtwatt-host", "1"},
		{guest, "./cmd/virtwatt-guest", "0"},
	} {
		cmd := exec.Command("go", "build", "-o", b.out, b.pkg)
		cmd.Dir = repoRoot()
		cmd.Env = append(os.Environ(), "CGO_ENABLED="+b.cgo)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", b.pkg, err, out)
		}
	}
	return host, guest
}

// FreePort returns a loopback address nothing listens on right now.
func FreePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Proc is a started binary whose output goes to a log file.
type Proc struct {
	Cmd     *exec.Cmd
	LogPath string

	once sync.Once
	err  error
	done chan struct{}
}

// Start runs argv (a binary and its arguments) with its output captured.
// The process is killed at the end of the test; its log is printed when
// the test failed.
func Start(t testing.TB, argv ...string) *Proc {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	logf, err := os.CreateTemp(t.TempDir(), filepath.Base(argv[0])+"-*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Proc{Cmd: cmd, LogPath: logf.Name(), done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); logf.Close(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s log:\n%s", strings.Join(argv, " "), p.Log())
		}
	})
	return p
}

// Log is what the process wrote so far.
func (p *Proc) Log() string {
	b, _ := os.ReadFile(p.LogPath)
	return string(b)
}

// Wait waits up to d for the process to exit and returns its exit code, or
// -1 and false when it is still running.
func (p *Proc) Wait(d time.Duration) (code int, exited bool) {
	select {
	case <-p.done:
		return p.Cmd.ProcessState.ExitCode(), true
	case <-time.After(d):
		return -1, false
	}
}

// Running reports whether the process has not exited.
func (p *Proc) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Scrape returns the samples of addr's /metrics keyed by "name{labels}"
// as the exposition writes them.
func Scrape(t testing.TB, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

// Sum adds the samples whose key is name with labels containing every part,
// and says how many there were. It adds them in the order of their keys,
// so that the sum of the same series, none of them lower, is never lower
// (a map's order would move the float sum's last bits either way).
func Sum(m map[string]float64, name string, parts ...string) (float64, int) {
	var s float64
	n := 0
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := m[k]
		if !strings.HasPrefix(k, name+"{") && k != name {
			continue
		}
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(k, p)
		}
		if ok {
			s += v
			n++
		}
	}
	return s, n
}

// WaitFor polls f every 50 ms until it is true, failing the test after d.
func WaitFor(t testing.TB, what string, d time.Duration, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if f() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s", d, what)
}

// Up reports whether addr serves /metrics with status 200.
func Up(addr string) bool {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == 200
}
