package calibrate

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/hostagent/meter"
	"github.com/virtwatt/virtwatt/hostagent/state"
	"github.com/virtwatt/virtwatt/internal/flock"
	"github.com/virtwatt/virtwatt/internal/procstat"
	"github.com/virtwatt/virtwatt/tests/fakerapl"
)

// fakeRun drives a fakerapl.CurveHost: Set records the busy threads, Sleep
// advances the tree and /proc/stat by d at that load (plus 0.1 CPU of
// background work) and the clock by d.
type fakeRun struct {
	t    *testing.T
	host *fakerapl.CurveHost
	mu   sync.Mutex
	n    int
	now  time.Time
	sets []int
}

func (f *fakeRun) Set(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n = n
	f.sets = append(f.sets, n)
}

func (f *fakeRun) Sleep(ctx context.Context, d time.Duration) error {
	f.mu.Lock()
	n := f.n
	f.now = f.now.Add(d)
	f.mu.Unlock()
	return f.host.Step(d, float64(n)+0.1)
}

func (f *fakeRun) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func newFake(t *testing.T) (*fakeRun, Options) {
	t.Helper()
	h, err := fakerapl.NewCurveHost(t.TempDir(), 16, 40, 12, 5, 0.25, 0.05, 11)
	if err != nil {
		t.Fatal(err)
	}
	m, err := meter.NewPowercap(h.Tree.Root())
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeRun{t: t, host: h, now: time.Date(2026, 12, 1, 13, 0, 0, 0, time.UTC)}
	return f, Options{
		Meter: m, CPU: func() (procstat.CPU, error) { return procstat.Read(h.ProcRoot) },
		Zones: []string{"package", "dram"}, Idle: 10 * time.Second, Step: 5 * time.Second, Threads: 6,
		Load: f, Sleep: f.Sleep, Now: f.Now,
	}
}

// On a fake host drawing 40 W + 12 W per busy CPU, calibrate finds 40 W
// within 5 % and 12 W/CPU within 10 %, from 0..6 threads, and stops its
// threads at the end.
func TestCalibrateOnFakeCurve(t *testing.T) {
	f, o := newFake(t)
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if want := 10 + 6*5; len(res.Points) != want {
		t.Errorf("%d points, want %d (one per second of each phase)", len(res.Points), want)
	}
	if got := f.sets; len(got) < 8 || got[0] != 0 || got[6] != 6 || got[len(got)-1] != 0 {
		t.Errorf("load set to %v, want 0..6 then 0", got)
	}
	c := res.Curves[0]
	if c.Zone != "package" || math.Abs(c.Curve.IdleW-40)/40 > 0.05 || math.Abs(c.Curve.MarginalW-12)/12 > 0.10 {
		t.Fatalf("package curve %+v, want 40 W ±5 %% + 12 W/CPU ±10 %%", c)
	}
	d := res.Curves[1]
	if d.Zone != "dram" || math.Abs(d.Curve.IdleW-5)/5 > 0.05 {
		t.Fatalf("dram curve %+v, want 5 W", d)
	}
	t.Logf("fitted package %.3f W + %.3f W/CPU (true 40 + 12), R² %.4f; dram %.3f W + %.3f W/CPU (true 5 + 0.25)",
		c.Curve.IdleW, c.Curve.MarginalW, c.Curve.R2, d.Curve.IdleW, d.Curve.MarginalW)

	var out bytes.Buffer
	if err := res.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"package  idle", "marginal", "R²", "Points", "  6 "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("text output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if err := res.WriteConfig(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "[power_curve.package]\nidle_watts = "+strconv.FormatFloat(c.Curve.IdleW, 'f', 3, 64)) {
		t.Errorf("config output:\n%s", out.String())
	}
}

// A host with no spread in busy CPUs (the load driver does nothing) gives
// no curve, and says why.
func TestCalibrateRefusesFlatLoad(t *testing.T) {
	f, o := newFake(t)
	o.Load = nopLoad{}
	o.Sleep = func(ctx context.Context, d time.Duration) error {
		f.mu.Lock()
		f.now = f.now.Add(d)
		f.mu.Unlock()
		return f.host.Step(d, 2)
	}
	if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "no usable curve") {
		t.Fatalf("got %v, want a refusal", err)
	}
}

type nopLoad struct{}

func (nopLoad) Set(int) {}

// The curves go into the state file's power_curve, every counter kept; a
// state file held by a running agent is refused, naming its PID.
func TestWriteStateAndLock(t *testing.T) {
	_, o := newFake(t)
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "state.json")
	st := state.New()
	st.HostEnergyUJ["package/0"] = 12345
	st.UnattributedUJ["package"] = 12345
	if err := st.Save(p, time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}

	held, err := flock.Acquire(p + ".lock") // the agent's lock
	if err != nil {
		t.Fatal(err)
	}
	_, err = Lock(p)
	if !errors.Is(err, ErrStateInUse) || !strings.Contains(err.Error(), "PID "+strconv.Itoa(os.Getpid())) || !strings.Contains(err.Error(), "--print-config") {
		t.Fatalf("got %v, want a refusal naming PID %d and --print-config", err, os.Getpid())
	}
	held.Release()

	l, err := Lock(p)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if err := res.WriteState(p); err != nil {
		t.Fatal(err)
	}
	got, err := state.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	c := got.PowerCurve.Zones["package"].Calibrated
	if c == nil || got.HostEnergyUJ["package/0"] != 12345 || math.Abs(float64(c.IdleUW)/1e6-res.Curves[0].Curve.IdleW) > 1e-6 || !c.Time.Equal(res.Time) {
		t.Fatalf("state after calibrate: %+v, calibrated %+v", got, c)
	}
}

// The real spinner runs exactly the threads asked for.
func TestSpinner(t *testing.T) {
	s := NewSpinner()
	s.Set(2)
	if len(s.stops) != 2 {
		t.Fatalf("%d threads, want 2", len(s.stops))
	}
	s.Set(1)
	s.Set(0)
	if len(s.stops) != 0 {
		t.Fatalf("%d threads after Set(0)", len(s.stops))
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("spinning threads did not stop")
	}
}
