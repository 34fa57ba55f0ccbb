// Package track runs one command and measures the VM energy it caused,
// like CodeCarbon's EmissionsTracker around a script:
//
//	virtwatt-guest track [flags] -- CMD ARGS...
//
// The VM's energy is sampled at the start, periodically during the run
// (so that the meter follows counter wraps and resets) and at the end;
// the periodic reads run off the command's path, and the start and end
// reads are bounded (Options.SampleTimeout), so that a share read that
// hangs never delays the command or keeps track from returning. The
// command's own share is the VM's energy × its process tree's CPU time over
// the guest's total CPU time (busy + idle, every vCPU) during the run: the
// same rule as the per-process split, so that an idle VM's energy is not
// charged to a command that only used one vCPU of four.
package track

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/virtwatt/virtwatt/guestagent/measure"
	"github.com/virtwatt/virtwatt/guestagent/output"
	"github.com/virtwatt/virtwatt/guestagent/procsplit"
)

// Exit codes of the shell's convention, returned when CMD cannot run.
const (
	ExitNotExecutable = 126
	ExitNotFound      = 127
	ExitUsage         = 2
)

// DefaultInterval is how often the VM's energy and the process tree are
// sampled while the command runs.
const DefaultInterval = time.Second

// Options configures Run.
type Options struct {
	Sampler  measure.Sampler
	ProcRoot string        // --proc-root; default /proc
	Interval time.Duration // sampling period during the run; default 1s
	// SampleTimeout bounds a meter read at the start and at the end: past
	// it the energy is unknown, and the command runs and track returns
	// all the same. Default: 3 intervals, at least 3 s.
	SampleTimeout time.Duration
	Out           io.Writer   // the summary; default os.Stderr
	CSV           *output.CSV // --csv: one row for the command; nil for none

	// The command's standard streams; default the agent's own.
	Stdin          io.Reader
	Stdout, Stderr io.Writer

	Logger *slog.Logger
}

// Run runs argv, passing its standard streams through and forwarding
// SIGINT and SIGTERM to it, prints the summary to opts.Out, appends a CSV
// row when opts.CSV is set, and returns the command's exit code (128+N
// when a signal N ended it; 127 when it is not found, 126 when it cannot
// be executed, with an error). A measurement that failed is said in the
// summary and never changes the exit code.
func Run(ctx context.Context, opts Options, argv []string) (int, error) {
	if len(argv) == 0 {
		return ExitUsage, errors.New("track: no command given (virtwatt-guest track [flags] -- CMD ARGS...)")
	}
	if opts.Sampler == nil {
		return ExitUsage, errors.New("track: no meter (internal: the agent must wire one)")
	}
	if opts.ProcRoot == "" {
		opts.ProcRoot = procsplit.DefaultProcRoot
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Out == nil {
		opts.Out = os.Stderr
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}

	path, err := exec.LookPath(argv[0])
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return ExitNotExecutable, fmt.Errorf("track: %s: permission denied: %w", argv[0], err)
		}
		return ExitNotFound, fmt.Errorf("track: %s: command not found (not in $PATH, or no such file): %w", argv[0], err)
	}
	cmd := exec.Command(path, argv[1:]...)
	cmd.Args = argv
	cmd.Stdin, cmd.Stdout, cmd.Stderr = orDefault(opts.Stdin, os.Stdin), orWriter(opts.Stdout, os.Stdout), orWriter(opts.Stderr, os.Stderr)

	m := newMeasurement(opts, log)
	m.begin(ctx)

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	if err := cmd.Start(); err != nil {
		code := ExitNotFound
		if errors.Is(err, fs.ErrPermission) {
			code = ExitNotExecutable
		}
		return code, fmt.Errorf("track: start %s: %w", argv[0], err)
	}
	m.started(cmd.Process.Pid)

	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	ticker := time.NewTicker(opts.Interval)
	defer ticker.Stop()
	ctxDone := ctx.Done()
wait:
	for {
		select {
		case sig := <-sigs:
			log.Debug("track: forwarding signal", "signal", sig, "pid", cmd.Process.Pid)
			cmd.Process.Signal(sig)
		case <-ctxDone:
			cmd.Process.Signal(syscall.SIGTERM)
			ctxDone = nil
		case <-ticker.C:
			m.tick(ctx)
		case <-waited:
			break wait
		}
	}

	code := exitCode(cmd.ProcessState)
	res := m.end(context.WithoutCancel(ctx), argv, code, cmd.ProcessState)
	res.WriteSummary(opts.Out)
	if opts.CSV != nil && res.Energy.Known && res.AttributionNote == "" {
		if err := opts.CSV.WriteRow(res.CSVRow()); err != nil {
			log.Error("track: CSV row not written", "err", err)
			fmt.Fprintf(opts.Out, "  csv              not written: %v\n", err)
		}
	}
	return code, nil
}

// exitCode follows the shell: the status, or 128+N when signal N ended it.
func exitCode(ps *os.ProcessState) int {
	if ps == nil {
		return 1
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

func orDefault(r, def io.Reader) io.Reader {
	if r == nil {
		return def
	}
	return r
}

func orWriter(w, def io.Writer) io.Writer {
	if w == nil {
		return def
	}
	return w
}
