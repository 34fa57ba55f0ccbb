// Package condlog logs persistent conditions without flooding. A
// condition is a stage (a step of a loop: "share", "meter") failing for
// one cause (the innermost error: "no space left on device"); it is
// logged once when it starts, with how many subjects (VMs, outputs) it
// affects and one of them, a summary at most once per Every while it
// lasts (failures counted since the last line, subjects affected now),
// and once when it clears. A loop reports each round's results with Fail
// and OK and ends the round with Flush.
//
// Invariants: whatever the number of subjects and rounds, a condition
// logs at most 2 + lifetime/Every lines; a stage holds at most MaxCauses
// conditions at once (further causes are counted under "other"); a stage
// that did not run in a round (no Fail, no OK) keeps its conditions as
// they are. A Logger is safe for concurrent use.
package condlog

import (
	"errors"
	"log/slog"
	"sync"
	"time"
)

// MaxCauses bounds the conditions one stage holds at once.
const MaxCauses = 8

// OtherCause names the condition that counts the causes beyond MaxCauses.
const OtherCause = "other"

// Options configure a Logger. Zero values take the defaults.
type Options struct {
	// Every is the least time between two summaries of one condition
	// (default one minute).
	Every time.Duration
	// ClearAfter is how long a stage must run without the condition
	// before it is logged as cleared (default 0: the first clean round),
	// so that a condition that comes and goes is not logged each time.
	ClearAfter time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Subject and Subjects name the attributes holding one affected
	// subject and their count (default "subject" and "subjects").
	Subject, Subjects string
}

// Logger tracks conditions and writes their lines to an slog.Logger.
type Logger struct {
	log  *slog.Logger
	opts Options

	mu     sync.Mutex
	stages map[string]*stage
}

type stage struct {
	ran   bool // Fail or OK since the last Flush
	conds map[string]*condition
}

type condition struct {
	active        bool
	since, logged time.Time
	lastFail      time.Time
	total, window uint64 // failures since the start, since the last line
	round         int    // failures in this round
	subject       string // one subject of this round
	err           error  // the latest error
}

// New returns a Logger writing to log.
func New(log *slog.Logger, opts Options) *Logger {
	if opts.Every <= 0 {
		opts.Every = time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Subject == "" {
		opts.Subject = "subject"
	}
	if opts.Subjects == "" {
		opts.Subjects = "subjects"
	}
	return &Logger{log: log, opts: opts, stages: map[string]*stage{}}
}

// Cause is the condition an error belongs to: the text of its innermost
// wrapped error (the first branch of a joined one), so that the same
// failure for many subjects, each error naming its own path, is one
// condition.
func Cause(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				if es := j.Unwrap(); len(es) > 0 && es[0] != nil {
					err = es[0]
					continue
				}
			}
			return err.Error()
		}
		err = next
	}
}

func (l *Logger) stage(name string) *stage {
	s := l.stages[name]
	if s == nil {
		s = &stage{conds: map[string]*condition{}}
		l.stages[name] = s
	}
	s.ran = true
	return s
}

// Fail records that stage failed this round for subject ("" for a stage
// with no subjects) with err; call it at most once per subject and round,
// as the count of failures in a round is logged as the count of subjects
// affected. A nil err is OK(stage).
func (l *Logger) Fail(stage, subject string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stage(stage)
	if err == nil {
		return
	}
	cause := Cause(err)
	c := s.conds[cause]
	if c == nil {
		if len(s.conds) >= MaxCauses {
			cause = OtherCause
			c = s.conds[cause]
		}
		if c == nil {
			c = &condition{}
			s.conds[cause] = c
		}
	}
	if c.round == 0 {
		c.subject = subject
	}
	c.round++
	c.err = err
}

// OK records that stage ran this round; its conditions that had no
// failure in the round clear at Flush.
func (l *Logger) OK(stage string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stage(stage)
}

// Flush ends the round: it logs the conditions that started, the
// summaries that are due and the conditions that cleared.
func (l *Logger) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.opts.Now()
	for name, s := range l.stages {
		if !s.ran {
			continue
		}
		s.ran = false
		for cause, c := range s.conds {
			l.settle(now, name, cause, c)
			if !c.active {
				delete(s.conds, cause)
			}
		}
	}
}

func (l *Logger) settle(now time.Time, stage, cause string, c *condition) {
	n := c.round
	c.round = 0
	if n > 0 {
		c.lastFail = now
		c.total += uint64(n)
		c.window += uint64(n)
	}
	switch {
	case n > 0 && !c.active:
		c.active, c.since, c.logged, c.window = true, now, now, 0
		l.log.Warn(stage+" failing", l.attrs(stage, cause, c, n)...)
	case n > 0 && now.Sub(c.logged) >= l.opts.Every:
		args := append(l.attrs(stage, cause, c, n), "failures", c.window, "for", now.Sub(c.since).Round(time.Second))
		c.logged, c.window = now, 0
		l.log.Warn(stage+" still failing", args...)
	case n == 0 && c.active && now.Sub(c.lastFail) >= l.opts.ClearAfter:
		c.active = false
		args := []any{"stage", stage, "cause", cause}
		if c.subject != "" {
			args = append(args, l.opts.Subject, c.subject) // the last one that failed
		}
		l.log.Info(stage+" recovered", append(args, "failures", c.total,
			"lasted", now.Sub(c.since).Round(time.Second))...)
	}
}

func (l *Logger) attrs(stage, cause string, c *condition, n int) []any {
	args := []any{"stage", stage, "cause", cause}
	if c.subject != "" {
		args = append(args, l.opts.Subjects, n, l.opts.Subject, c.subject)
	}
	return append(args, "err", c.err)
}
