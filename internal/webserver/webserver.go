// Package webserver is the HTTP endpoint both virtwatt agents serve
// /metrics on: exporter-toolkit's web.Serve (TLS, basic auth, rate limits
// from --web.config.file) on a listener bound and validated before the
// agent measures anything.
//
// Invariants:
//   - Listen fails, and nothing is served, when the address is busy or the
//     web config file is invalid: an agent calls it before its first tick.
//   - Every connection has deadlines (header, read, write, idle), so a
//     client that stops talking is dropped.
//   - At most MaxConnections connections are open at once; further ones
//     wait in the kernel's accept queue, holding no descriptor of ours.
//     The cap is lowered at start so that RLIMIT_NOFILE always leaves
//     FDReserve descriptors to the agent's measurement, whatever scrapers
//     do.
//   - Shutdown is bounded: in-flight requests get a grace period, then
//     every connection is closed.
package webserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/prometheus/exporter-toolkit/web"
	"golang.org/x/net/netutil"

	"github.com/virtwatt/virtwatt/internal/procinfo"
)

// DefaultMaxConnections is the default of --web.max-connections.
const DefaultMaxConnections = 64

// MaxMaxConnections bounds --web.max-connections.
const MaxMaxConnections = 65536

// FDReserve is how many file descriptors, beyond those open at start, the
// connection cap leaves to the agent's own work (share, state, meter and
// /proc files, sinks).
const FDReserve = 64

// Timeouts of every connection.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 30 * time.Second
	WriteTimeout      = 30 * time.Second
	IdleTimeout       = 60 * time.Second
)

// ShutdownTimeout is how long Shutdown lets in-flight requests finish.
const ShutdownTimeout = 5 * time.Second

// Config is what an agent's command line says about its endpoint.
type Config struct {
	ListenAddress  string // host:port
	ConfigFile     string // exporter-toolkit web config; "" for plain HTTP
	MaxConnections int    // 0: DefaultMaxConnections
}

// Server is a bound endpoint; Serve starts answering.
type Server struct {
	cfg      Config
	log      *slog.Logger
	ln       net.Listener // raw, capped
	raw      net.Listener
	srv      *http.Server
	maxConns int
}

// Listen validates the web config file, binds the address and caps the
// connections; it serves nothing until Serve.
func Listen(cfg Config, h http.Handler, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxConnections == 0 {
		cfg.MaxConnections = DefaultMaxConnections
	}
	if cfg.MaxConnections < 1 || cfg.MaxConnections > MaxMaxConnections {
		return nil, fmt.Errorf("web.max-connections %d is out of range (1 to %d)", cfg.MaxConnections, MaxMaxConnections)
	}
	if cfg.ConfigFile != "" {
		if err := web.Validate(cfg.ConfigFile); err != nil {
			return nil, fmt.Errorf("web config file %s: %w", cfg.ConfigFile, err)
		}
	}
	maxConns, err := connectionCap(cfg.MaxConnections, log)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.ListenAddress)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.ListenAddress, err)
	}
	s := &Server{cfg: cfg, log: log, ln: netutil.LimitListener(ln, maxConns), raw: ln, maxConns: maxConns}
	s.srv = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		// Scanners' TLS handshake errors and the like: not worth a warning.
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// Addr is the bound address (with the port chosen for ":0").
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// MaxConnections is the cap in force, at most Config.MaxConnections.
func (s *Server) MaxConnections() int { return s.maxConns }

// Serve answers until Shutdown (then it returns nil) or a failure.
func (s *Server) Serve() error {
	noSystemd := false
	flags := &web.FlagConfig{
		WebListenAddresses: &[]string{s.cfg.ListenAddress},
		WebSystemdSocket:   &noSystemd,
		WebConfigFile:      &s.cfg.ConfigFile,
	}
	err := web.Serve(s.ln, s.srv, flags, s.log)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("serving %s: %w", s.cfg.ListenAddress, err)
}

// Shutdown stops accepting, lets in-flight requests finish within
// ShutdownTimeout and then closes every connection. It returns within
// about ShutdownTimeout.
func (s *Server) Shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
		_ = s.ln.Close()
		return fmt.Errorf("stopping the endpoint %s: %w (connections closed)", s.cfg.ListenAddress, err)
	}
	return nil
}

// Run serves until ctx ends, then shuts down. It returns Serve's error
// when serving fails, and nil after a shutdown.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.Serve() }()
	select {
	case err := <-errc:
		_ = s.ln.Close()
		return err
	case <-ctx.Done():
		err := s.Shutdown()
		<-errc // Serve returns as soon as Shutdown closed the listener
		return err
	}
}

// connectionCap is want, lowered when RLIMIT_NOFILE would not leave
// FDReserve descriptors to the agent beyond those already open.
func connectionCap(want int, log *slog.Logger) (int, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > math.MaxInt32 {
		return want, nil
	}
	open := procinfo.OpenFDs()
	// One descriptor is the listener itself.
	room := int64(rl.Cur) - int64(open) - FDReserve - 1
	if room < 1 {
		return 0, fmt.Errorf("the open-files limit (RLIMIT_NOFILE) is %d: with %d descriptors open and %d kept for measurement "+
			"none is left for the endpoint; raise it (LimitNOFILE= in the systemd unit, ulimit -n)", rl.Cur, open, FDReserve)
	}
	if int64(want) > room {
		log.Warn("web.max-connections lowered to keep file descriptors for measurement",
			"requested", want, "max_connections", room, "rlimit_nofile", rl.Cur, "open", open, "reserved", FDReserve)
		return int(room), nil
	}
	return want, nil
}
