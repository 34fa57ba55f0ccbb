package hostagent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/virtwatt/virtwatt/hostagent/demo"
	"github.com/virtwatt/virtwatt/hostagent/libvirtsrc"
	"github.com/virtwatt/virtwatt/hostagent/state"
	"github.com/virtwatt/virtwatt/hostagent/view"
	"github.com/virtwatt/virtwatt/internal/flock"
	"github.com/virtwatt/virtwatt/internal/otlp"
	"github.com/virtwatt/virtwatt/internal/procstat"
	"github.com/virtwatt/virtwatt/share"
)

// shareWriters is how many writers a tick with many shares spreads its
// writes over (the work is waiting on renames, not CPU).
const shareWriters = 4

// openSources builds the real sources (or the simulated ones for --demo).
func openSources(cfg Config, log *slog.Logger) (Sources, error) {
	if cfg.Demo {
		w := demo.NewWorldSize(time.Now, uint64(time.Now().UnixNano()), cfg.DemoVMs)
		return Sources{Meter: w.Meter(), CPU: w.CPU, Domains: w.Domains(), Now: time.Now}, nil
	}
	m, err := openMeter(cfg, time.Now, log) // meterselect.go
	if err != nil {
		return Sources{}, err
	}
	procRoot := cfg.ProcRoot
	if _, err := procstat.Read(procRoot); err != nil {
		return Sources{}, err
	}
	// Retry at least once per tick once libvirtd is back, so attribution
	// resumes within a few ticks of a libvirtd restart.
	src, err := libvirtsrc.New(libvirtsrc.Options{URI: cfg.LibvirtURI, Logger: log,
		ReconnectMin: min(time.Second, cfg.Interval), ReconnectMax: max(cfg.Interval, time.Second)})
	if err != nil {
		return Sources{}, fmt.Errorf("libvirt %s: %w", cfg.LibvirtURI, err)
	}
	return Sources{
		Meter:   m,
		CPU:     func() (procstat.CPU, error) { return procstat.Read(procRoot) },
		Domains: withROMounts(cfg, src, log),
		Now:     time.Now,
	}, nil
}

// loopStopTimeout bounds how long Main waits, after ctx ended, for the
// tick in progress to finish before it gives up on the final save.
const loopStopTimeout = 5 * time.Second

// shareLockName is the lock file in the share root. It is a regular file:
// share.Writer lists and prunes directories only, and a name starting with
// '.' is no libvirt domain of ours to collide with in practice.
const shareLockName = ".virtwatt.lock"

// Main runs virtwatt-host as configured until ctx ends (or, with --once,
// after two readings, printing the split to out).
//
// Before the first tick it claims the state file and the share root (a
// second instance on either exits at once, naming the holder's PID), loads
// and checks the state, binds the endpoint and checks its web config: a
// run that fails at start has written no share and no state. When ctx
// ends it saves the state and returns nil, within loopStopTimeout plus the
// endpoint's shutdown time whatever the loop is stuck on.
func Main(ctx context.Context, cfg Config, out io.Writer, log *slog.Logger) error {
	if cfg.Once {
		return once(ctx, cfg, out, log)
	}
	if err := os.MkdirAll(filepath.Dir(cfg.StateFile), 0o755); err != nil {
		return fmt.Errorf("state file directory: %w", err)
	}
	stateLock, err := claim(cfg.StateFile+".lock", "state file "+cfg.StateFile, "--state-file")
	if err != nil {
		return err
	}
	defer stateLock.Release()
	w, err := share.NewWriter(cfg.ShareRoot)
	if err != nil {
		return fmt.Errorf("share root %s: %w", cfg.ShareRoot, err)
	}
	defer w.Close()
	shareLock, err := claim(filepath.Join(cfg.ShareRoot, shareLockName), "share root "+cfg.ShareRoot, "--share-root")
	if err != nil {
		return err
	}
	defer shareLock.Release()

	src, err := readySources(&cfg, log)
	if err != nil {
		return err
	}
	defer closeSource(src.Domains, log)

	st, err := state.Load(cfg.StateFile)
	if err != nil {
		return err
	}
	obs := NewObserver()
	ci, runIntensity, err := openIntensity(ctx, cfg, obs, log)
	if err != nil {
		return err
	}
	src.Intensity = ci
	a, err := New(cfg, src, w, st, obs, log)
	if err != nil {
		return err
	}
	for range shareWriters - 1 {
		extra, err := share.NewWriter(cfg.ShareRoot)
		if err != nil {
			return fmt.Errorf("share root %s: %w", cfg.ShareRoot, err)
		}
		defer extra.Close()
		a.AddWriters(extra)
	}
	reg, err := newRegistry(a, obs)
	if err != nil {
		return err
	}
	stopOTLP, err := otlp.Run(ctx, reg, cfg.OTLP, "virtwatt-host", Version, log)
	if err != nil {
		return err
	}
	defer stopOTLP()
	h, err := newHandler(cfg, src.Meter.Name(), reg, log)
	if err != nil {
		return err
	}
	srv, err := listen(cfg, h, log)
	if err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- srv.Run(ctx) }()
	go func() { _ = runIntensity(ctx) }() // ends with ctx; Current never waits on it
	log.Info("running", "interval", cfg.Interval, "share_root", cfg.ShareRoot, "state_file", cfg.StateFile,
		"listen", srv.Addr().String(), "max_connections", srv.MaxConnections(), "idle", cfg.Idle, "overhead", cfg.Overhead,
		"vms_in_state", len(st.VMs))
	ran := make(chan struct{})
	go func() { _ = a.Run(ctx); close(ran) }()

	var serveErr error
	select {
	case serveErr = <-served:
		served = nil
		log.Error("metrics endpoint failed; stopping", "err", serveErr)
	case <-ctx.Done():
	}
	cancel()
	select {
	case <-ran:
	case <-time.After(loopStopTimeout):
		// The tick in progress may be writing the state: saving now would
		// race it. The file holds the last completed tick's state.
		return fmt.Errorf("the measurement loop did not stop within %v (stuck reading a source?); "+
			"the state file keeps the last completed tick", loopStopTimeout)
	}
	if err := a.SaveFinal(); err != nil {
		log.Warn("final state save failed", "err", err)
	} else {
		log.Info("state saved", "state_file", cfg.StateFile)
	}
	if served != nil {
		if err := <-served; err != nil {
			log.Warn("stopping the metrics endpoint", "err", err)
		}
	}
	if serveErr != nil {
		return serveErr
	}
	log.Info("stopped")
	return nil
}

// sourceCloseTimeout bounds how long Main waits for the domain source to
// close: a libvirt call stuck in the background (a hung libvirtd) holds it.
const sourceCloseTimeout = 2 * time.Second

// closeSource closes the domain source, giving up after sourceCloseTimeout
// so that a hung libvirtd never keeps the agent from exiting.
func closeSource(c io.Closer, log *slog.Logger) {
	done := make(chan error, 1)
	go func() { done <- c.Close() }()
	select {
	case err := <-done:
		if err != nil {
			log.Warn("closing the domain source", "err", err)
		}
	case <-time.After(sourceCloseTimeout):
		log.Warn("the domain source did not close within the bound (a libvirt call is stuck); exiting without it",
			"timeout", sourceCloseTimeout)
	}
}

// readySources opens the sources and matches cfg's counted zones to what
// the meter has (cfg.Zones may lose dram); on error nothing stays open.
func readySources(cfg *Config, log *slog.Logger) (Sources, error) {
	src, err := openSources(*cfg, log)
	if err != nil {
		return Sources{}, err
	}
	if err := matchZones(cfg, src.Meter, log); err != nil {
		closeSource(src.Domains, log)
		return Sources{}, err
	}
	log.Info("sources ready", "meter", src.Meter.Name(), "zones", cfg.Zones, "libvirt", cfg.LibvirtURI, "demo", cfg.Demo)
	return src, nil
}

// once takes two readings one interval apart and prints the split; it
// writes nothing, so it takes no lock.
func once(ctx context.Context, cfg Config, out io.Writer, log *slog.Logger) error {
	src, err := readySources(&cfg, log)
	if err != nil {
		return err
	}
	defer closeSource(src.Domains, log)
	a, err := New(cfg, src, nil, state.New(), nil, log)
	if err != nil {
		return err
	}
	if !a.Tick(ctx) {
		return errors.New("first reading failed (see the log above)")
	}
	select {
	case <-time.After(cfg.Interval):
	case <-ctx.Done():
		return ctx.Err()
	}
	if !a.Tick(ctx) {
		return errors.New("second reading failed (see the log above)")
	}
	return view.WriteTable(out, a.Snapshot())
}

// claim takes the lock at path for what (a state file, a share root); the
// error of a second instance names the holder's PID and the flag to change.
func claim(path, what, flagName string) (*flock.Lock, error) {
	l, err := flock.Acquire(path)
	var held *flock.HeldError
	if errors.As(err, &held) {
		return nil, fmt.Errorf("%s is in use by %s (lock file %s): one agent per state file and share root; "+
			"stop that one, or give this one its own %s", what, held.Holder("another virtwatt-host"), path, flagName)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return l, nil
}
