//go:build e2e

// Package e2e is the end-to-end suite: real libvirtd, two TCG qemu guests
// (one sharing over virtiofs, one over 9p) running the static virtwatt-guest,
// virtwatt-host on qemu:///system over a fake powercap tree, and Prometheus
// scraping all three. It needs root and the packages tests/e2e/install.sh
// installs; run it with `make e2e` (go test -tags e2e ./tests/e2e/).
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// suite holds one run's paths, started processes and clock.
type suite struct {
	t     *testing.T
	start time.Time
	repo  string // module root
	cache string // tests/.work/cache: kernel, kept between runs
	work  string // this run's directory (removed when the run passes)

	mu      sync.Mutex
	procs   []*proc
	daemons []*daemon // libvirtd, virtlogd when the suite started them
}

// logf logs with the time since the suite started, so a CI reader sees
// where the time goes.
func (s *suite) logf(format string, args ...any) {
	s.t.Helper()
	s.t.Logf("[%s +%5.1fs] %s", time.Now().Format("15:04:05.000"), time.Since(s.start).Seconds(), fmt.Sprintf(format, args...))
}

func newSuite(t *testing.T) *suite {
	s := &suite{t: t, start: time.Now()}
	if os.Geteuid() != 0 {
		t.Fatal("the e2e suite needs root (libvirtd, bind mounts, /dev/kvm permissions)")
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	s.repo = filepath.Clean(filepath.Join(wd, "..", ".."))
	if _, err := os.Stat(filepath.Join(s.repo, "go.mod")); err != nil {
		t.Fatalf("module root not found from %s: %v", wd, err)
	}
	s.cache = filepath.Join(s.repo, "tests", ".work", "cache")
	// qemu runs as libvirt-qemu: every parent of the shares, the kernel and
	// the console logs must be traversable, and MkdirTemp makes 0700.
	s.work, err = os.MkdirTemp("", "virtwatt-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(s.work, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("VIRTWATT_E2E_KEEP") != "" {
			s.logf("kept the run directory %s", s.work)
			return
		}
		os.RemoveAll(s.work)
	})
	return s
}

// path joins elements under the run directory.
func (s *suite) path(elem ...string) string {
	return filepath.Join(append([]string{s.work}, elem...)...)
}

// mkdir creates a directory (and parents) readable by qemu.
func (s *suite) mkdir(elem ...string) string {
	s.t.Helper()
	p := s.path(elem...)
	if err := os.MkdirAll(p, 0o755); err != nil {
		s.t.Fatal(err)
	}
	return p
}

// run runs a command to completion and returns its combined output.
func run(ctx context.Context, dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

// proc is a process the suite started and must stop.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// startProc starts argv with stdout and stderr to <work>/<name>.log. The
// process is killed at the end of the test, and by the kernel if the test
// binary dies first.
func (s *suite) startProc(name string, argv ...string) *proc {
	s.t.Helper()
	p := &proc{name: name, log: s.path(name + ".log"), done: make(chan struct{})}
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		f.Close()
		s.t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		f.Close()
		close(p.done)
	}()
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	return p
}

// running says whether the process has not exited.
func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// stop sends sig and waits up to grace for the exit, then SIGKILLs.
func (p *proc) stop(sig syscall.Signal, grace time.Duration) {
	if !p.running() {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// stopAll stops every process the suite started, newest first.
func (s *suite) stopAll() {
	s.mu.Lock()
	ps := append([]*proc(nil), s.procs...)
	s.mu.Unlock()
	for i := len(ps) - 1; i >= 0; i-- {
		ps[i].stop(syscall.SIGTERM, 5*time.Second)
	}
}

// tail returns the last n lines of a file, for failure reports.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitFor polls cond every interval until it returns true or timeout passes.
func waitFor(timeout, interval time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
	}
}

// requiredTools are the programs the suite runs; install.sh provides them.
var requiredTools = []string{"virsh", "libvirtd", "virtlogd", "qemu-system-x86_64", "/usr/lib/qemu/virtiofsd", "prometheus", "promtool", "/bin/busybox"}

// ensureInstalled runs install.sh when a tool or the guest kernel is
// missing; with everything present it installs nothing.
func (s *suite) ensureInstalled(ctx context.Context) {
	s.t.Helper()
	var missing []string
	for _, tool := range requiredTools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if _, err := os.Stat(filepath.Join(s.cache, "kernel", "vmlinuz")); err != nil {
		missing = append(missing, "guest kernel")
	}
	if len(missing) == 0 {
		return
	}
	s.logf("missing %v: running tests/e2e/install.sh", missing)
	if out, err := run(ctx, s.repo, nil, "bash", filepath.Join(s.repo, "tests", "e2e", "install.sh"), s.cache); err != nil {
		s.t.Fatalf("install.sh: %v", err)
	} else if out != "" {
		s.logf("install.sh: %s", strings.TrimSpace(out))
	}
}

// buildAgents builds both binaries into <work>/bin, or takes them from
// $VIRTWATT_E2E_BIN_DIR when set.
func (s *suite) buildAgents(ctx context.Context) (host, guest string) {
	s.t.Helper()
	if dir := os.Getenv("VIRTWATT_E2E_BIN_DIR"); dir != "" {
		s.logf("using prebuilt agents from %s", dir)
		return filepath.Join(dir, "virtwatt-host"), filepath.Join(dir, "virtwatt-guest")
	}
	bin := s.mkdir("bin")
	host, guest = filepath.Join(bin, "virtwatt-host"), filepath.Join(bin, "virtwatt-guest")
	var wg sync.WaitGroup
	var errHost, errGuest error
	wg.Add(2)
	go func() {
		defer wg.Done()
		_, errHost = run(ctx, s.repo, []string{"CGO_ENABLED=1"}, "go", "build", "-o", host, "./cmd/virtwatt-host")
	}()
	go func() {
		defer wg.Done()
		_, errGuest = run(ctx, s.repo, []string{"CGO_ENABLED=0"}, "go", "build", "-ldflags=-s -w", "-o", guest, "./cmd/virtwatt-guest")
	}()
	wg.Wait()
	if errHost != nil || errGuest != nil {
		s.t.Fatalf("build: host: %v; guest: %v", errHost, errGuest)
	}
	return host, guest
}

// loadavg is /proc/loadavg's 1, 5 and 15 minute load averages.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}

// cpuSeconds is a process's user+system CPU time from /proc/PID/stat.
func cpuSeconds(pid int) (float64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// Fields after the command (which may hold spaces) start after ") ".
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	var ut, st float64
	fmt.Sscan(f[11], &ut)        // utime: field 14 of stat
	fmt.Sscan(f[12], &st)        // stime: field 15
	return (ut + st) / 100, true // USER_HZ is 100 on Linux
}

// procCPU says how much CPU each process the suite started, and each of
// its guests' qemu, has used so far: where the machine's time went when a
// timing phase fails.
func (s *suite) procCPU() string {
	var parts []string
	if c, ok := cpuSeconds(os.Getpid()); ok {
		parts = append(parts, fmt.Sprintf("the suite itself %.1f", c))
	}
	s.mu.Lock()
	for _, p := range s.procs {
		if p.running() {
			if c, ok := cpuSeconds(p.cmd.Process.Pid); ok {
				parts = append(parts, fmt.Sprintf("%s %.1f", p.name, c))
			}
		}
	}
	s.mu.Unlock()
	ents, _ := os.ReadDir("/proc")
	for _, en := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", en.Name(), "cmdline"))
		if err != nil || !bytes.Contains(b, []byte("guest="+domPrefix)) {
			continue
		}
		name := "qemu"
		for _, a := range bytes.Split(b, []byte{0}) {
			if n, ok := bytes.CutPrefix(a, []byte("guest=")); ok {
				name, _, _ = strings.Cut(string(n), ",")
			}
		}
		var pid int
		fmt.Sscan(en.Name(), &pid)
		if c, ok := cpuSeconds(pid); ok {
			parts = append(parts, fmt.Sprintf("%s %.1f", name, c))
		}
	}
	return strings.Join(parts, ", ")
}
