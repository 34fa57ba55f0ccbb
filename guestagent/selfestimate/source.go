package selfestimate

import (
	"context"
	"log/slog"
	"time"

	"github.com/virtwatt/virtwatt/guestagent/account"
	"github.com/virtwatt/virtwatt/guestagent/follow"
	"github.com/virtwatt/virtwatt/guestagent/measure"
)

// Reader reads the share once (follow.Reader).
type Reader interface {
	Read() follow.Observation
}

// Source gives the guest's energy poll by poll: the share's while it is up,
// and the guest's own estimate while no share is usable, through one
// Accountant, so that the counters never go back across switches and no
// time is counted twice (see account.Accountant.Estimated).
//
// When it estimates: from the first poll when the share has never been up
// since the Source was made (no share found); once a share was up, when
// it has not been up for the share's staleness limit (3 of its intervals,
// the time after which a record is stale), so that a transient read error
// does not replace the host's measurement. The estimate then covers the
// time since the last poll that found the share changed (its energy is
// counted up to then), not since the last poll it was still up: a record
// that stopped is up, unchanged, until it is stale.
type Source struct {
	reader Reader
	acct   *account.Accountant
	est    *Estimator // nil: never estimate
	log    *slog.Logger

	everUp     bool
	lastUp     time.Time // the guest clock when the share was last up and changed
	estimating bool      // the last Poll estimated
	warned     bool      // a failing estimate was logged
	switches   int       // share ↔ estimate switches logged at their own level
}

// maxLoggedSwitches: a share that keeps coming and going (its host dying
// and restarting) must not log each switch: past this many, switches go
// to debug level, said once.
const maxLoggedSwitches = 4

// logSwitch logs a switch between the share and the estimate: msg at
// level for the first maxLoggedSwitches, at debug level after.
func (s *Source) logSwitch(level slog.Level, msg string, args ...any) {
	s.switches++
	switch {
	case s.switches > maxLoggedSwitches:
		level = slog.LevelDebug
	case s.switches == maxLoggedSwitches:
		msg += " (the share keeps coming and going: further switches are logged at debug level)"
	}
	s.log.Log(context.Background(), level, msg, args...)
}

// NewSource follows reader through acct, estimating with est (nil: never).
func NewSource(reader Reader, acct *account.Accountant, est *Estimator, logger *slog.Logger) *Source {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Source{reader: reader, acct: acct, est: est, log: logger}
}

// Poll reads the share at now and returns what was read and the Sample.
func (s *Source) Poll(now time.Time) (follow.Observation, measure.Sample) {
	obs := s.reader.Read()
	smp := s.acct.Observe(now, obs)
	if s.est == nil {
		return obs, smp
	}
	if smp.Up {
		if s.estimating {
			s.logSwitch(slog.LevelInfo, "share up: its measurement replaces the guest's estimate from now on", "mode", smp.Mode, "method", smp.Method)
			s.estimating = false
		}
		if !s.everUp || s.acct.LastChange().Equal(now) {
			// The share's energy is counted up to now: an estimate
			// starts from here.
			s.everUp, s.lastUp = true, now
			if err := s.est.Mark(now); err != nil {
				s.warnOnce(err)
			}
		}
		return obs, smp
	}
	if !s.estimating && s.everUp && now.Sub(s.lastUp) <= smp.StaleAfter {
		return obs, smp // a share just lost: wait for it, as for a stale record
	}
	if !s.estimating {
		s.estimating = true
		s.logSwitch(slog.LevelWarn, "no usable share: estimating the VM's power from the guest's CPU use (Cloud Carbon Footprint's model); "+
			"exported with method=\"estimated\", model=\"ccf\", and virtwatt_share_up 0",
			"reason", obs.Reason, "ever_up", s.everUp)
	}
	e, err := s.est.Step(now)
	if err != nil {
		s.warnOnce(err)
		return obs, smp
	}
	s.warned = false
	return obs, s.acct.Estimated(now, e)
}

func (s *Source) warnOnce(err error) {
	if !s.warned {
		s.warned = true
		s.log.Warn("guest estimate failed: no estimated energy until /proc/stat reads again", "err", err)
	}
}
