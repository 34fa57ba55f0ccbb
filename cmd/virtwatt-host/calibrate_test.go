package main

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/hostagent/state"
	"github.com/virtwatt/virtwatt/internal/flock"
	"github.com/virtwatt/virtwatt/tests/fakerapl"
)

// fakeLoad drives a fakerapl.CurveHost in place of real busy threads.
type fakeLoad struct {
	mu   sync.Mutex
	host *fakerapl.CurveHost
	n    int
	now  time.Time
}

func (f *fakeLoad) Set(n int) { f.mu.Lock(); f.n = n; f.mu.Unlock() }

func (f *fakeLoad) Sleep(_ context.Context, d time.Duration) error {
	f.mu.Lock()
	n := f.n
	f.now = f.now.Add(d)
	f.mu.Unlock()
	return f.host.Step(d, float64(n))
}

func (f *fakeLoad) Now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }

// `virtwatt-host calibrate` on a fake host drawing 40 W + 12 W per busy
// CPU: prints the curve and its points and writes it into the state file;
// refuses while the agent holds the state file, naming its PID;
// --print-config writes no state and prints the config lines.
func TestCalibrateCommand(t *testing.T) {
	dir := t.TempDir()
	h, err := fakerapl.NewCurveHost(filepath.Join(dir), 8, 40, 12, 5, 0.25, 0.03, 2)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeLoad{host: h, now: time.Date(2026, 12, 1, 13, 0, 0, 0, time.UTC)}
	calibrateHooks.Load, calibrateHooks.Sleep, calibrateHooks.Now = f, f.Sleep, f.Now
	t.Cleanup(func() { calibrateHooks.Load, calibrateHooks.Sleep, calibrateHooks.Now = nil, nil, nil })
	stateFile := filepath.Join(dir, "lib", "state.json")
	args := []string{"--meter", "powercap", "--powercap-root", h.Tree.Root(), "--proc-root", h.ProcRoot, "--state-file", stateFile,
		"--idle", "10s", "--step", "5s", "--threads", "4"}

	var out, errb strings.Builder
	if code := cmdCalibrate([]string{"--help"}, &out, &errb); code != 0 || !strings.Contains(errb.String(), "-print-config") || !strings.Contains(errb.String(), "-threads") {
		t.Fatalf("--help: exit %d\n%s", code, errb.String())
	}

	if err := os.MkdirAll(filepath.Dir(stateFile), 0o755); err != nil {
		t.Fatal(err)
	}
	held, err := flock.Acquire(stateFile + ".lock")
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errb.Reset()
	if code := cmdCalibrate(args, &out, &errb); code != 1 || !strings.Contains(errb.String(), "PID "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("with the lock held: exit %d, stderr %s", code, errb.String())
	}
	held.Release()

	out.Reset()
	errb.Reset()
	if code := cmdCalibrate(args, &out, &errb); code != 0 {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out.String(), errb.String())
	}
	for _, want := range []string{"package  idle", "W/CPU", "R²", "Points", "Wrote the curve to " + stateFile} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, out.String())
		}
	}
	st, err := state.Load(stateFile)
	if err != nil {
		t.Fatal(err)
	}
	c := st.PowerCurve.Zones["package"].Calibrated
	idle, marginal := float64(c.IdleUW)/1e6, float64(c.MarginalUWPerCPU)/1e6
	t.Logf("calibrated package curve %.3f W + %.3f W/CPU (true 40 + 12)", idle, marginal)
	if math.Abs(idle-40)/40 > 0.05 || math.Abs(marginal-12)/12 > 0.10 {
		t.Fatalf("calibrated %.3f W + %.3f W/CPU, want 40 ±5 %%, 12 ±10 %%", idle, marginal)
	}

	other := filepath.Join(dir, "other", "state.json")
	out.Reset()
	errb.Reset()
	args[len(args)-7] = other // --state-file's value
	if code := cmdCalibrate(append(args, "--print-config"), &out, &errb); code != 0 || !strings.Contains(out.String(), "[power_curve.package]\nidle_watts = ") {
		t.Fatalf("--print-config: exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	if _, err := os.Stat(other); !os.IsNotExist(err) {
		t.Fatalf("--print-config wrote a state file: %v", err)
	}
}
