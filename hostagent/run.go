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
	"github.com/virtwatt/virtwatt/hostagent/meter"
	"github.com/virtwatt/virtwatt/hostagent/procstat"
	"github.com/virtwatt/virtwatt/hostagent/state"
	"github.com/virtwatt/virtwatt/share"
)

// shareWriters is how many writers a tick with many shares spreads its
// writes over (the work is waiting on renames, not CPU).
const shareWriters = 4

// openSources builds the real sources (or the simulated ones for --demo).
func openSources(cfg Config, log *slog.Logger) (Sources, error) {
	if cfg.Demo {
		w := demo.NewWorld(time.Now, uint64(time.Now().UnixNano()))
		return Sources{Meter: w.Meter(), CPU: w.CPU, Domains: w.Domains(), Now: time.Now}, nil
	}
	m, err := meter.Open(cfg.Meter, cfg.PowercapRoot, cfg.MSRRoot)
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

// Main runs virtwatt-host as configured until ctx ends (or, with --once,
// after two readings, printing the split to out).
func Main(ctx context.Context, cfg Config, out io.Writer, log *slog.Logger) error {
	src, err := openSources(cfg, log)
	if err != nil {
		return err
	}
	defer src.Domains.Close()
	if err := matchZones(&cfg, src.Meter, log); err != nil {
		return err
	}
	log.Info("sources ready", "meter", src.Meter.Name(), "zones", cfg.Zones, "libvirt", cfg.LibvirtURI, "demo", cfg.Demo)

	if cfg.Once {
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
		return PrintTable(out, a.Snapshot())
	}

	if err := os.MkdirAll(filepath.Dir(cfg.StateFile), 0o755); err != nil {
		return fmt.Errorf("state file directory: %w", err)
	}
	st, err := state.Load(cfg.StateFile)
	if err != nil {
		return err
	}
	w, err := share.NewWriter(cfg.ShareRoot)
	if err != nil {
		return fmt.Errorf("share root %s: %w", cfg.ShareRoot, err)
	}
	defer w.Close()
	obs := NewObserver()
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
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- serve(ctx, cfg, src.Meter.Name(), reg, log) }()
	log.Info("running", "interval", cfg.Interval, "share_root", cfg.ShareRoot, "state_file", cfg.StateFile,
		"listen", cfg.Listen, "idle", cfg.Idle, "overhead", cfg.Overhead, "vms_in_state", len(st.VMs))
	ran := make(chan struct{})
	go func() { _ = a.Run(ctx); close(ran) }()
	select {
	case err := <-errc:
		cancel()
		<-ran
		return err
	case <-ctx.Done():
		<-errc
		<-ran
		if err := a.SaveFinal(); err != nil {
			log.Warn("final state save failed", "err", err)
		}
		log.Info("stopped")
		return nil
	}
}
