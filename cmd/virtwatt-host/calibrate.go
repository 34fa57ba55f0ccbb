package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/virtwatt/virtwatt/hostagent/calibrate"
	"github.com/virtwatt/virtwatt/hostagent/meter"
	"github.com/virtwatt/virtwatt/internal/procstat"
	"github.com/virtwatt/virtwatt/share"
)

const calibrateUsage = `[flags]

Measures this host's power curve, P = idle + marginal × busy CPUs: the host
idle for --idle, then 1, 2, ... --threads threads spinning, --step each,
reading the meter and /proc/stat every --sample. Prints the idle power, the
marginal power per busy CPU, the fit's quality and every point, then writes
the curve into the state file, where virtwatt-host takes it at its next start
(records say idle_model "calibrated"). The agent must be stopped: calibrate
takes the state file's lock. With --print-config it writes nothing and
prints the config lines instead. Run it with no VM busy for the best curve.`

// calibrateHooks replace the busy threads, the sleeps and the clock in
// tests, so that a run drives a fake tree instead of real CPUs.
var calibrateHooks struct {
	Load  calibrate.Load
	Sleep func(context.Context, time.Duration) error
	Now   func() time.Time
}

func cmdCalibrate(args []string, stdout, stderr io.Writer) int {
	s := newSubFlags("calibrate", calibrateUsage, stderr)
	s.meterFlags()
	procRoot := s.fs.String("proc-root", "/proc", "procfs root, for <root>/stat")
	idle := s.fs.Duration("idle", calibrate.DefaultIdle, "how long the idle host is measured")
	step := s.fs.Duration("step", calibrate.DefaultStep, "how long each busy phase is measured")
	settle := s.fs.Duration("settle", calibrate.DefaultSettle, "time left out at the start of each phase")
	sample := s.fs.Duration("sample", calibrate.DefaultSample, "time between two readings (one point each)")
	threads := s.fs.Int("threads", 0, fmt.Sprintf("busy threads of the last phase (0: the online CPUs, at most %d)", calibrate.DefaultThreads))
	printConfig := s.fs.Bool("print-config", false, "print the config lines ([power_curve.<zone>]) and write no state file")
	if err := s.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if s.fs.NArg() > 0 {
		fmt.Fprintf(stderr, "virtwatt-host calibrate: unexpected argument %q\n", s.fs.Arg(0))
		return 2
	}
	cfg, err := s.resolve()
	if err != nil {
		fmt.Fprintln(stderr, "virtwatt-host:", err)
		return 2
	}
	s.fs.Visit(func(f *flag.Flag) {
		if f.Name == "proc-root" {
			cfg.ProcRoot = *procRoot
		}
	})
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"idle", *idle}, {"step", *step}, {"sample", *sample}} {
		if d.v < time.Millisecond {
			fmt.Fprintf(stderr, "virtwatt-host calibrate: --%s %v: must be at least 1ms\n", d.name, d.v)
			return 2
		}
	}
	if *threads < 0 || *settle < 0 {
		fmt.Fprintln(stderr, "virtwatt-host calibrate: --threads and --settle must not be negative")
		return 2
	}
	if *settle == 0 {
		*settle = -1 // none (calibrate.Options takes 0 as the default)
	}
	if err := runCalibrate(cfg.Meter, cfg.PowercapRoot, cfg.MSRRoot, cfg.ProcRoot, cfg.StateFile, cfg.Zones, *printConfig,
		calibrate.Options{Idle: *idle, Step: *step, Settle: *settle, Sample: *sample, Threads: *threads}, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "virtwatt-host calibrate:", err)
		return 1
	}
	return 0
}

func runCalibrate(meterKind, powercapRoot, msrRoot, procRoot, stateFile string, zones []string, printConfig bool,
	o calibrate.Options, stdout, stderr io.Writer) error {
	if !printConfig {
		// Before minutes of measuring: the agent must not be running.
		if err := os.MkdirAll(filepath.Dir(stateFile), 0o755); err != nil {
			return fmt.Errorf("state file directory: %w", err)
		}
		l, err := calibrate.Lock(stateFile)
		if err != nil {
			return err
		}
		defer l.Release()
	}
	m, err := meter.Open(meterKind, powercapRoot, msrRoot)
	if err != nil {
		return err
	}
	if meter.ProvenanceOf(m).Method != share.MethodMeasured {
		return errors.New("the meter estimates (no RAPL): a curve fitted to an estimate only gives the model back; calibrate needs a measuring meter")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o.Meter = m
	o.CPU = func() (procstat.CPU, error) { return procstat.Read(procRoot) }
	o.Zones = zones
	o.Load, o.Sleep, o.Now = calibrateHooks.Load, calibrateHooks.Sleep, calibrateHooks.Now
	o.Progress = func(phase, threads, of int) {
		fmt.Fprintf(stderr, "calibrate: phase %d of %d: %d busy threads\n", phase+1, of+1, threads)
	}
	res, err := calibrate.Run(ctx, o)
	if err != nil {
		return err
	}
	if err := res.WriteText(stdout); err != nil {
		return err
	}
	if printConfig {
		fmt.Fprintln(stdout, "\nConfig lines (virtwatt-host's TOML file):")
		return res.WriteConfig(stdout)
	}
	if err := res.WriteState(stateFile); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nWrote the curve to %s: virtwatt-host uses it from its next start (records say idle_model \"calibrated\").\n", stateFile)
	return nil
}
