package track

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/guestagent/measure"
	"github.com/virtwatt/virtwatt/guestagent/output"
)

// fakeMeter advances the VM's energy by step µJ (package) and step/4 (dram)
// at every call, with emissions at 100 g/kWh and water at 0.5 L/kWh.
type fakeMeter struct {
	mu    sync.Mutex
	calls int
	step  uint64
	err   error
}

func (f *fakeMeter) Sample(context.Context) (measure.Sample, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return measure.Sample{}, f.err
	}
	f.calls++
	pkg := uint64(f.calls) * f.step
	dram := pkg / 4
	kwh := float64(pkg+dram) / 3.6e12
	return measure.Sample{
		Time: time.Now(), Up: true,
		// The host updates the share once per call.
		LastUpdate:     fakeHostT0.Add(time.Duration(f.calls) * time.Second),
		EnergyUJ:       map[string]uint64{"package": pkg, "dram": dram},
		EmissionsGrams: kwh * 100, WaterLiters: kwh * 0.5,
		IntensityGPerKWh: 100, IntensitySource: "flag", PUE: 1, PUESource: "default", WUE: 0.5, WUESource: "flag",
	}, nil
}

var fakeHostT0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func opts(out io.Writer, m measure.Sampler) Options {
	return Options{Sampler: m, Out: out, Interval: 20 * time.Millisecond, Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: io.Discard}
}

func TestExitCodePassedThrough(t *testing.T) {
	var out bytes.Buffer
	code, err := Run(context.Background(), opts(&out, &fakeMeter{step: 1e6}), []string{"sh", "-c", "exit 3"})
	if err != nil || code != 3 {
		t.Fatalf("code %d err %v, want 3 and nil", code, err)
	}
	if !strings.Contains(out.String(), "exit code        3") {
		t.Fatalf("summary:\n%s", out.String())
	}
}

func TestCommandNotFound(t *testing.T) {
	code, err := Run(context.Background(), opts(io.Discard, &fakeMeter{step: 1}), []string{"virtwatt-no-such-command-xyz"})
	if code != ExitNotFound || err == nil || !strings.Contains(err.Error(), "command not found") {
		t.Fatalf("code %d err %v, want 127 and a clear error", code, err)
	}
	if code, err := Run(context.Background(), opts(io.Discard, &fakeMeter{}), nil); code != ExitUsage || err == nil {
		t.Fatalf("no command: code %d err %v", code, err)
	}
}

func TestBusyCommandShareAndSummary(t *testing.T) {
	var out bytes.Buffer
	path := filepath.Join(t.TempDir(), "emissions.csv")
	sink, err := output.NewCSV(output.CSVOptions{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	o := opts(&out, &fakeMeter{step: 5e6})
	o.CSV = sink
	code, err := Run(context.Background(), o, []string{"sh", "-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done"})
	if err != nil || code != 0 {
		t.Fatalf("code %d err %v", code, err)
	}
	s := out.String()
	for _, want := range []string{
		"virtwatt track: sh -c", "duration", "VM energy", "command energy", "of the guest's CPU time",
		"emissions", "gCO2e (command)", "intensity 100 g/kWh (flag)", "water", "WUE 0.5 L/kWh (flag)",
		"equivalents", "km", "EPA GHG Equivalencies Calculator", "CodeCarbon dashboard",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}

	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil || len(recs) != 2 {
		t.Fatalf("csv: %v, %d lines", err, len(recs))
	}
	if i := slices.Index(recs[0], "tracking_mode"); recs[1][i] != "process" {
		t.Fatalf("tracking_mode %q", recs[1][i])
	}
	if i := slices.Index(recs[0], "energy_consumed"); recs[1][i] == "0.0" {
		t.Fatal("energy_consumed 0 for a busy command")
	}
}

func TestResultShareBounds(t *testing.T) {
	// The same run through the measurement directly, to check the numbers.
	m := newMeasurement(Options{Sampler: &fakeMeter{step: 1e6}, ProcRoot: "/proc"}, nil)
	m.log = discardLogger()
	m.begin(context.Background())
	// Burn some CPU in this process as if it were the command's tree.
	m.started(os.Getpid())
	burn(200 * time.Millisecond)
	m.tick(context.Background())
	r := m.end(context.Background(), []string{"self"}, 0, nil)
	if !r.Energy.Known {
		t.Fatalf("energy unknown: %s", r.Energy.Reason)
	}
	if r.Energy.TotalUJ != 2*1e6+2*1e6/4 { // three meter calls: start, tick, end
		t.Fatalf("VM energy %d µJ", r.Energy.TotalUJ)
	}
	if r.CommandUJ == 0 || r.CommandUJ > r.Energy.TotalUJ {
		t.Fatalf("command %d µJ of VM %d µJ: want 0 < share ≤ VM", r.CommandUJ, r.Energy.TotalUJ)
	}
	if r.Fraction <= 0 || r.Fraction > 1 {
		t.Fatalf("fraction %v", r.Fraction)
	}
}

func TestMeterFailureStillReturnsExitCode(t *testing.T) {
	var out bytes.Buffer
	code, err := Run(context.Background(), opts(&out, &fakeMeter{err: errors.New("no share at /mnt/virtwatt")}), []string{"sh", "-c", "exit 5"})
	if err != nil || code != 5 {
		t.Fatalf("code %d err %v", code, err)
	}
	if !strings.Contains(out.String(), "VM energy        unknown: no VM energy at the start: no share at /mnt/virtwatt") {
		t.Fatalf("summary:\n%s", out.String())
	}
}

func TestSignalForwarded(t *testing.T) {
	pr, pw := io.Pipe()
	o := opts(io.Discard, &fakeMeter{step: 1})
	o.Stdout = pw
	go func() {
		buf := make([]byte, 16)
		n, _ := pr.Read(buf)
		if strings.HasPrefix(string(buf[:n]), "ready") {
			syscall.Kill(os.Getpid(), syscall.SIGTERM) // caught by Run, forwarded to the child
		}
		io.Copy(io.Discard, pr)
	}()
	code, err := Run(context.Background(), o, []string{"sh", "-c", "echo ready; exec sleep 30"})
	pw.Close()
	if err != nil || code != 128+int(syscall.SIGTERM) {
		t.Fatalf("code %d err %v, want 143", code, err)
	}
}

func TestContextCancelStopsCommand(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	code, err := Run(ctx, opts(io.Discard, &fakeMeter{step: 1}), []string{"sleep", "30"})
	if err != nil || code != 143 {
		t.Fatalf("code %d err %v, want 143", code, err)
	}
}

func burn(d time.Duration) {
	end := time.Now().Add(d)
	x := 0
	for time.Now().Before(end) {
		x++
	}
	_ = x
}

func TestShellJoin(t *testing.T) {
	got := shellJoin([]string{"sh", "-c", "echo 'hi' $X", ""})
	if want := `sh -c 'echo '\''hi'\'' $X' ''`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

// TestEnergyNeedsAHostUpdate: when the share was not updated between the
// start and the end (a dead host, or a command shorter than one host
// interval), the energy is unknown, never a confident 0 J; otherwise the
// summary says which host window the energy covers.
func TestEnergyNeedsAHostUpdate(t *testing.T) {
	old := measure.Sample{
		Up: false, LastUpdate: fakeHostT0.Add(-24 * time.Hour), HostTime: fakeHostT0.Add(-24 * time.Hour),
		EnergyUJ: map[string]uint64{"package": 5e6},
	}
	e := energyOf(old, old, nil, nil)
	if e.Known || e.Reason != NoHostUpdate {
		t.Fatalf("same record at both ends: %+v, want unknown (%q)", e, NoHostUpdate)
	}
	var out bytes.Buffer
	path := filepath.Join(t.TempDir(), "emissions.csv")
	sink, err := output.NewCSV(output.CSVOptions{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	o := opts(&out, measure.SamplerFunc(func(context.Context) (measure.Sample, error) { return old, nil }))
	o.CSV = sink
	if code, err := Run(context.Background(), o, []string{"true"}); code != 0 || err != nil {
		t.Fatalf("code %d err %v", code, err)
	}
	if !strings.Contains(out.String(), "VM energy        unknown: no host update during the run") {
		t.Fatalf("summary:\n%s", out.String())
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a CSV row was written for an unknown energy (stat: %v)", err)
	}

	later := old
	later.LastUpdate = old.LastUpdate.Add(2 * time.Second)
	later.EnergyUJ = map[string]uint64{"package": 7e6}
	e = energyOf(old, later, nil, nil)
	if !e.Known || e.TotalUJ != 2e6 || !e.From.Equal(old.LastUpdate) || !e.To.Equal(later.LastUpdate) {
		t.Fatalf("energy %+v", e)
	}
	var sum bytes.Buffer
	(&Result{Energy: e, AttributionNote: "x"}).WriteSummary(&sum)
	if !strings.Contains(sum.String(), "host window") || !strings.Contains(sum.String(), "2.000 s of host time") {
		t.Fatalf("summary lacks the host window:\n%s", sum.String())
	}
}

// TestHungMeterDoesNotBlockTrack: a meter read that never returns (a share
// whose virtiofsd or 9p server died) neither keeps the command from running
// nor track from returning its exit code; the energy is unknown.
func TestHungMeterDoesNotBlockTrack(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	var calls atomic.Int64
	meter := measure.SamplerFunc(func(ctx context.Context) (measure.Sample, error) {
		if calls.Add(1) == 1 {
			return (&fakeMeter{step: 1e6}).Sample(ctx)
		}
		<-release // hung: the server is gone
		return measure.Sample{}, errors.New("released")
	})
	var out bytes.Buffer
	o := opts(&out, meter)
	o.SampleTimeout = 200 * time.Millisecond
	type ret struct {
		code int
		err  error
	}
	done := make(chan ret, 1)
	go func() {
		code, err := Run(context.Background(), o, []string{"sh", "-c", "sleep 0.2; exit 4"})
		done <- ret{code, err}
	}()
	select {
	case r := <-done:
		if r.err != nil || r.code != 4 {
			t.Fatalf("code %d err %v, want 4", r.code, r.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("track did not return: a hung meter read blocked it")
	}
	if !strings.Contains(out.String(), "VM energy        unknown: no VM energy at the end: the share read did not return in time") {
		t.Fatalf("summary:\n%s", out.String())
	}
	if n := calls.Load(); n < 2 {
		t.Fatalf("meter called %d times, want the periodic read too", n)
	}
}
