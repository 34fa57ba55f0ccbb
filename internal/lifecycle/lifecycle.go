// Package lifecycle is how both virtwatt agents start and stop: which
// signals do what, and a bound on how long stopping may take.
//
//   - SIGTERM and SIGINT end the context: the agent saves what it keeps and
//     exits 0. A second one, while it stops, kills it at once (the default
//     action is restored after the first).
//   - SIGHUP is ignored with one log line each time: configuration reload
//     is not supported, and a hang-up must not kill the agent unsaved.
//   - Run gives the agent a grace period once the context ended; an agent
//     stuck in a system call (a hung network file system, a FIFO) is
//     abandoned with ErrStuck instead of ignoring SIGTERM forever.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// HUPMessage is what an agent logs on SIGHUP.
const HUPMessage = "SIGHUP ignored: configuration reload is not supported; restart the service"

// StopGrace is how long an agent may take to stop after SIGTERM.
const StopGrace = 10 * time.Second

// ErrStuck is returned by Run when the agent did not return within the
// grace period after its context ended.
var ErrStuck = errors.New("did not stop in time")

// SignalContext returns a context that ends on SIGTERM or SIGINT and
// ignores SIGHUP (logging it). stop releases the signals.
func SignalContext(parent context.Context, log *slog.Logger) (ctx context.Context, stop func()) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(parent)
	term := make(chan os.Signal, 1)
	hup := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM, syscall.SIGINT)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-term:
				log.Info("stopping", "signal", s.String())
				signal.Reset(syscall.SIGTERM, syscall.SIGINT) // a second one kills
				cancel()
			case <-hup:
				log.Warn(HUPMessage)
			case <-done:
				return
			}
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			signal.Stop(term)
			signal.Stop(hup)
			close(done)
			cancel()
		})
	}
}

// Run runs fn(ctx) and returns its error. Once ctx has ended, fn has grace
// to return; after that Run returns an error wrapping ErrStuck, leaving fn
// behind (the caller is expected to exit).
func Run(ctx context.Context, grace time.Duration, fn func(context.Context) error) error {
	errc := make(chan error, 1)
	go func() { errc <- fn(ctx) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case err := <-errc:
		return err
	case <-t.C:
		return fmt.Errorf("%w: still busy %v after the stop request (a hung file system or device?); exiting without waiting", ErrStuck, grace)
	}
}
