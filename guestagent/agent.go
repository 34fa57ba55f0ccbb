// Package guestagent is virtwatt-guest: it follows the VM's share (written
// by virtwatt-host), keeps the VM's energy, power, emissions and water, and
// exports them on /metrics and to the configured sinks.
package guestagent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/virtwatt/virtwatt/guestagent/follow"
	"github.com/virtwatt/virtwatt/guestagent/measure"
	"github.com/virtwatt/virtwatt/guestagent/metrics"
	"github.com/virtwatt/virtwatt/guestagent/selfestimate"
	"github.com/virtwatt/virtwatt/internal/condlog"
	"github.com/virtwatt/virtwatt/internal/otlp"
	"github.com/virtwatt/virtwatt/internal/webserver"
)

// pokedWait is, in half poll intervals, how long after a poll a change
// poked the next timed poll comes (3: one and a half intervals).
const pokedWait = 3

// Agent is one running virtwatt-guest.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	version string

	source    *selfestimate.Source // the share, or the guest's own estimate when none is usable
	collector *metrics.Collector
	reg       *prometheus.Registry // served on /metrics (WithCollector adds to it)
	outErrors *prometheus.CounterVec
	sinks     []Sink
	outLog    *condlog.Logger // output failures, once per condition, not per poll

	ready chan struct{}
	mu    sync.Mutex
	addr  net.Addr
	last  measure.Sample
	state string // last logged state of the share
	flaps flapDamper
}

// Option adjusts an Agent made by New.
type Option func(*Agent)

// withClock replaces the guest clock (tests).
func withClock(now func() time.Time) Option { return func(a *Agent) { a.now = now } }

// WithSink adds a sink that receives every Sample.
func WithSink(s Sink) Option { return func(a *Agent) { a.sinks = append(a.sinks, s) } }

// WithCollector registers an extra Prometheus collector on /metrics.
func WithCollector(c prometheus.Collector) Option {
	return func(a *Agent) { a.reg.MustRegister(c) }
}

// WithVersion sets the version shown on the landing page.
func WithVersion(v string) Option { return func(a *Agent) { a.version = v } }

// New checks cfg and makes an Agent; nothing runs until Run.
func New(cfg Config, logger *slog.Logger, opts ...Option) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	a := &Agent{
		cfg:       cfg,
		log:       logger,
		now:       time.Now,
		version:   "dev",
		collector: metrics.New(),
		reg:       prometheus.NewRegistry(),
		outErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "virtwatt_output_errors_total",
			Help: "Samples an output (CSV, JSON lines, webhook, ...) failed to take, by output.",
		}, []string{"output"}),
		ready: make(chan struct{}),
	}
	a.source = newSource(cfg, logger)
	a.reg.MustRegister(
		a.collector, a.outErrors,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		webserver.BuildInfo(),
	)
	for _, o := range opts {
		o(a)
	}
	a.collector.SetClock(a.now)
	a.outLog = condlog.New(logger, condlog.Options{
		Now: a.now, ClearAfter: 2 * cfg.PollInterval.Duration, Subject: "output", Subjects: "outputs",
	})
	for _, s := range a.sinks {
		a.outErrors.WithLabelValues(sinkName(s))
	}
	return a, nil
}

// listenAddr is the endpoint's address once it listens (a.ready closed);
// nil before.
func (a *Agent) listenAddr() net.Addr {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.addr
}

// Latest is the last Sample made (zero before the first poll).
func (a *Agent) Latest() measure.Sample {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last
}

// Run serves /metrics and polls the share until ctx ends, then stops the
// server (within webserver.ShutdownTimeout), closes the sinks and returns
// nil. It returns an error only when the endpoint cannot listen (a busy
// address, a bad web config: nothing is polled or written then) or fails.
func (a *Agent) Run(ctx context.Context) error {
	h, err := a.Handler()
	if err != nil {
		return err
	}
	srv, err := webserver.Listen(webserver.Config{
		ListenAddress:  a.cfg.Listen,
		ConfigFile:     a.cfg.WebConfigFile,
		MaxConnections: a.cfg.MaxConns,
	}, h, a.log)
	if err != nil {
		return fmt.Errorf("metrics endpoint (--web.listen-address, --web.config.file, --web.max-connections): %w", err)
	}
	a.mu.Lock()
	a.addr = srv.Addr()
	a.mu.Unlock()
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	close(a.ready)
	stopOTLP, err := otlp.Run(ctx, a.reg, a.cfg.OTLP, "virtwatt-guest", a.version, a.log)
	if err != nil {
		return err
	}
	defer stopOTLP()

	var pokes <-chan struct{}
	w, err := follow.NewWatcher(a.cfg.ShareDir, a.log)
	if err != nil {
		a.log.Warn("inotify unavailable: polling only", "err", err)
	} else {
		defer w.Close()
		pokes = w.C()
	}

	a.log.Info("virtwatt-guest started", "version", a.version, "share_dir", a.cfg.ShareDir,
		"poll_interval", a.cfg.PollInterval.Duration, "listen", srv.Addr().String(),
		"max_connections", srv.MaxConnections(), "outputs", len(a.sinks))
	interval := a.cfg.PollInterval.Duration
	timer := time.NewTimer(interval)
	defer timer.Stop()
	var serveErr error
	a.poll(ctx)
loop:
	for {
		next := interval
		select {
		case <-ctx.Done():
			break loop
		case serveErr = <-served:
			break loop
		case <-pokes:
			// A write of the host's seen (a local share: its rename
			// over the record) is polled at once, and the timed poll
			// waits one and a half intervals: a host writing every interval
			// is then read once per write, by its own rename, with
			// one wake-up, and the timer fires only for a write that
			// is late or unseen.
			next = interval * pokedWait / 2
		case <-timer.C:
		}
		a.poll(ctx)
		if w != nil {
			w.Refresh()
		}
		timer.Reset(next)
	}

	if serveErr == nil {
		if err := srv.Shutdown(); err != nil {
			a.log.Warn("HTTP shutdown", "err", err)
		}
	}
	a.closeSinks()
	a.log.Info("virtwatt-guest stopped")
	return serveErr
}

// poll reads the share once, updates the counters and feeds the metrics and
// every sink. Run calls it on every tick; tests may call it directly. poll
// is not safe to call while Run runs: the counters belong to one loop.
func (a *Agent) poll(ctx context.Context) measure.Sample {
	obs, s := a.source.Poll(a.now())
	a.collector.Update(s)
	a.mu.Lock()
	a.last = s
	a.mu.Unlock()
	a.logState(obs, s)
	// A failing output is logged when it starts failing, once a minute
	// while it fails, and when it recovers; measurement goes on.
	for _, sk := range a.sinks {
		ectx, cancel := context.WithTimeout(ctx, a.cfg.PollInterval.Duration)
		err := sk.Emit(ectx, s)
		cancel()
		if err != nil {
			name := sinkName(sk)
			a.outErrors.WithLabelValues(name).Inc()
			a.outLog.Fail("output", name, err)
		}
	}
	if len(a.sinks) > 0 {
		a.outLog.OK("output")
		a.outLog.Flush()
	}
	return s
}

// closeSinks closes the sinks that can be closed.
func (a *Agent) closeSinks() {
	for _, sk := range a.sinks {
		if c, ok := sk.(io.Closer); ok {
			if err := c.Close(); err != nil {
				a.log.Warn("closing output", "output", sinkName(sk), "err", err)
			}
		}
	}
}

// logState logs when the share's state changes, not on every poll.
func (a *Agent) logState(obs follow.Observation, s measure.Sample) {
	state := "up"
	switch {
	case !obs.OK():
		state = obs.Reason
	case !s.Up:
		state = follow.ReasonStale
	}
	now := a.now()
	if state == a.state {
		if a.flaps.steady(now) {
			a.log.Info("share state steady again: its changes are logged again", "state", state)
		}
		return
	}
	prev := a.state
	a.state = state
	switch damped, started := a.flaps.change(now); {
	case started:
		a.log.Warn("share state changing on every few polls: further changes are logged at debug level until it holds for a minute",
			"state", state, "previous", prev, "changes", len(a.flaps.changes), "window", flapWindow)
		return
	case damped:
		a.log.Debug("share state changed", "state", state, "previous", prev, "err", obs.Err)
		return
	}
	switch state {
	case "up":
		a.log.Info("share up", "dir", a.cfg.ShareDir, "mode", s.Mode, "host", s.Host, "domain", s.Domain, "uuid", s.UUID)
	case follow.ReasonStale:
		a.log.Warn("share stale: not updated for 3 of its intervals; power is not exported until it is (is virtwatt-host running?)",
			"dir", a.cfg.ShareDir, "last_update", s.LastUpdate)
	case follow.ReasonMissing:
		if _, err := os.Stat(a.cfg.ShareDir); err != nil {
			a.log.Warn(fmt.Sprintf("share dir %s not found: mount the VM's share there read-only, "+
				"e.g. `mount -t virtiofs -o ro virtwatt %[1]s` (virtiofs) or "+
				"`mount -t 9p -o trans=virtio,version=9p2000.L,ro virtwatt %[1]s` (9p), "+
				"with the tag of the <filesystem> in the VM's libvirt XML; waiting for it", a.cfg.ShareDir))
			return
		}
		a.log.Warn("share dir holds no virtwatt data yet; waiting", "err", obs.Err)
	default:
		a.log.Warn("share unreadable; no value exported from it until it is", "reason", state, "err", obs.Err, "previous", prev)
	}
}
