package libvirtsrc

import (
	"errors"
	"fmt"
	"time"

	"libvirt.org/go/libvirt"
)

// connState is the connection and its reconnect schedule. It is only used
// by the goroutine that holds Source.busy.
type connState struct {
	conn        *libvirt.Connect
	backoff     time.Duration // wait after the last failed attempt
	nextAttempt time.Time     // no connect attempt before this instant
	lastErr     error         // why the connection is down
	downSince   time.Time     // zero while connected
	failures    int           // failed attempts since downSince
	connected   bool          // a connection was made at least once
}

// ensureConn returns a usable connection, connecting if the schedule
// allows. It never sleeps: while backing off it returns an error that names
// the URI and the time of the next attempt.
func (s *Source) ensureConn(now time.Time) (*libvirt.Connect, error) {
	c := &s.cs
	if c.conn != nil {
		alive, err := c.conn.IsAlive()
		if err == nil && alive {
			return c.conn, nil
		}
		if err == nil {
			err = errors.New("connection is not alive")
		}
		s.drop(now, err)
	}
	if now.Before(c.nextAttempt) {
		return nil, fmt.Errorf("libvirt %s is unreachable (next attempt in %s): %w",
			s.opts.URI, c.nextAttempt.Sub(now).Round(time.Millisecond), c.lastErr)
	}
	conn, err := s.dial(s.opts.URI)
	if err != nil {
		c.failures++
		c.lastErr = err
		if c.downSince.IsZero() {
			c.downSince = now
		}
		c.backoff = nextBackoff(c.backoff, s.opts.ReconnectMin, s.opts.ReconnectMax)
		c.nextAttempt = now.Add(c.backoff)
		lvl := s.log.Debug
		if c.failures == 1 {
			lvl = s.log.Warn
		}
		lvl("cannot connect to libvirt; will retry", "uri", s.opts.URI, "err", err,
			"attempt", c.failures, "retry_in", c.backoff)
		return nil, fmt.Errorf("connect to libvirt %s (is libvirtd or virtqemud running, and may this user open the URI?): %w", s.opts.URI, err)
	}
	switch {
	case c.connected:
		s.log.Info("libvirt connection restored", "uri", s.opts.URI,
			"down_for", now.Sub(c.downSince), "failed_attempts", c.failures)
	case c.failures > 0:
		s.log.Info("connected to libvirt", "uri", s.opts.URI,
			"unreachable_for", now.Sub(c.downSince), "failed_attempts", c.failures)
	default:
		s.log.Info("connected to libvirt", "uri", s.opts.URI)
	}
	*c = connState{conn: conn, connected: true}
	return conn, nil
}

// drop closes a connection found dead, and schedules an immediate
// reconnect attempt (the next Domains call); backoff starts from there.
func (s *Source) drop(now time.Time, why error) {
	c := &s.cs
	if c.conn == nil {
		return
	}
	s.log.Warn("libvirt connection lost; reconnecting", "uri", s.opts.URI, "err", why)
	if _, err := c.conn.Close(); err != nil {
		s.log.Debug("close dead libvirt connection", "uri", s.opts.URI, "err", err)
	}
	c.conn = nil
	c.lastErr = why
	c.downSince = now
	c.failures = 0
	c.backoff = 0
	c.nextAttempt = now
}

// nextBackoff doubles prev within [min, max].
func nextBackoff(prev, lo, hi time.Duration) time.Duration {
	next := 2 * prev
	if next < lo {
		next = lo
	}
	if next > hi {
		next = hi
	}
	return next
}

// connectionError reports whether err from a libvirt call means that the
// connection itself is broken (as opposed to a refused operation).
func connectionError(err error) bool {
	var lerr libvirt.Error
	if !errors.As(err, &lerr) {
		return false
	}
	switch lerr.Code {
	case libvirt.ERR_SYSTEM_ERROR, libvirt.ERR_RPC, libvirt.ERR_NO_CONNECT, libvirt.ERR_INVALID_CONN:
		return true
	}
	return false
}

// brokenAfter reports whether the connection must be dropped after a
// failed call: a connection-class error, or a connection no longer alive
// (the remote driver marks its client closed on EOF).
func (s *Source) brokenAfter(err error) bool {
	if connectionError(err) {
		return true
	}
	alive, aerr := s.cs.conn.IsAlive()
	return aerr != nil || !alive
}
