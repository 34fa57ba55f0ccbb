package condlog

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/internal/logcapture"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

type capture struct{ *logcapture.Handler }

func (c capture) msgs() []string { return logcapture.Messages(c.Records()) }

func newTest(opts Options) (*Logger, capture, *clock) {
	h, log := logcapture.New()
	clk := &clock{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	opts.Now = clk.now
	return New(log, opts), capture{h}, clk
}

func attr(r slog.Record, key string) (slog.Value, bool) { return logcapture.Attr(r, key) }

func diskFull(subject string) error {
	return fmt.Errorf("writing /run/virtwatt/%s/energy_uj: %w", subject,
		&fs.PathError{Op: "write", Path: "/run/virtwatt/" + subject, Err: syscall.ENOSPC})
}

// A condition shared by 100 subjects for 120 rounds gives a start line,
// at most two summaries and a clear line, not 12,000 lines.
func TestManySubjectsManyRoundsLogO1(t *testing.T) {
	l, h, clk := newTest(Options{Subject: "domain", Subjects: "domains"})
	for round := range 130 {
		for vm := range 100 {
			if round < 120 {
				l.Fail("share", fmt.Sprintf("vm-%d", vm), diskFull(fmt.Sprintf("vm-%d", vm)))
			}
		}
		l.OK("share")
		l.Flush()
		clk.t = clk.t.Add(time.Second)
	}
	msgs := h.msgs()
	recs := h.Records()
	if len(msgs) < 2 || len(msgs) > 4 {
		t.Fatalf("%d lines, want start + ≤2 summaries + clear: %q", len(msgs), msgs)
	}
	if msgs[0] != "share failing" || msgs[len(msgs)-1] != "share recovered" {
		t.Fatalf("lines %q", msgs)
	}
	for _, m := range msgs[1 : len(msgs)-1] {
		if m != "share still failing" {
			t.Fatalf("lines %q", msgs)
		}
	}
	start := recs[0]
	if v, _ := attr(start, "domains"); v.Int64() != 100 {
		t.Errorf("start line counts %v domains, want 100", v)
	}
	if v, _ := attr(start, "cause"); v.String() != syscall.ENOSPC.Error() {
		t.Errorf("cause %q", v)
	}
	if v, ok := attr(start, "domain"); !ok || v.String() == "" {
		t.Errorf("start line names no domain")
	}
	if v, _ := attr(recs[len(recs)-1], "failures"); v.Uint64() != 120*100 {
		t.Errorf("clear line counts %v failures, want %d", v, 120*100)
	}
	for _, r := range recs[1 : len(recs)-1] {
		if v, _ := attr(r, "failures"); v.Uint64() < 59*100 {
			t.Errorf("summary counts %v failures, want a minute's (≥ 5900)", v)
		}
	}
}

func TestConditions(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opts   Options
		rounds int
		step   time.Duration
		round  func(l *Logger, i int)
		want   []string
	}{
		{
			name: "stage that does not run keeps its condition", rounds: 10, step: time.Second,
			round: func(l *Logger, i int) {
				switch {
				case i < 3:
					l.Fail("share", "", errors.New("boom"))
				case i < 9: // not run (an earlier stage failed)
				default:
					l.OK("share")
				}
			},
			want: []string{"share failing", "share recovered"},
		},
		{
			name: "summaries once a minute", rounds: 181, step: time.Second,
			round: func(l *Logger, i int) {
				if i < 180 {
					l.Fail("meter", "", errors.New("read failed"))
				} else {
					l.OK("meter")
				}
			},
			want: []string{"meter failing", "meter still failing", "meter still failing", "meter recovered"},
		},
		{
			name: "flapping within ClearAfter is one condition", opts: Options{ClearAfter: 3 * time.Second},
			rounds: 100, step: time.Second,
			round: func(l *Logger, i int) {
				if i%2 == 0 && i < 90 {
					l.Fail("domains", "", errors.New("libvirt: connection lost"))
				} else {
					l.OK("domains")
				}
			},
			want: []string{"domains failing", "domains still failing", "domains recovered"},
		},
		{
			name: "flapping without ClearAfter logs each time", rounds: 6, step: time.Second,
			round: func(l *Logger, i int) {
				if i%2 == 0 {
					l.Fail("domains", "", errors.New("x"))
				} else {
					l.OK("domains")
				}
			},
			want: []string{"domains failing", "domains recovered", "domains failing", "domains recovered", "domains failing", "domains recovered"},
		},
		{
			name: "causes are bounded", rounds: 2, step: time.Second,
			round: func(l *Logger, i int) {
				if i == 0 {
					for k := range 50 {
						l.Fail("share", fmt.Sprint(k), fmt.Errorf("leaf error %d", k))
					}
				} else {
					l.OK("share")
				}
			},
			want: func() []string {
				var w []string
				for range MaxCauses + 1 {
					w = append(w, "share failing")
				}
				for range MaxCauses + 1 {
					w = append(w, "share recovered")
				}
				return w
			}(),
		},
		{
			name: "two causes are two conditions", rounds: 3, step: time.Second,
			round: func(l *Logger, i int) {
				switch i {
				case 0:
					l.Fail("share", "a", diskFull("a"))
					l.Fail("share", "b", fmt.Errorf("b: %w", fs.ErrPermission))
				case 1:
					l.Fail("share", "a", diskFull("a"))
				default:
					l.OK("share")
				}
			},
			want: []string{"share failing", "share failing", "share recovered", "share recovered"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, h, clk := newTest(tc.opts)
			for i := range tc.rounds {
				tc.round(l, i)
				l.Flush()
				clk.t = clk.t.Add(tc.step)
			}
			got := h.msgs()
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("lines\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestCause(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{diskFull("vm-1"), "no space left on device"},
		{errors.New("plain"), "plain"},
		{fmt.Errorf("a: %w", errors.Join(fs.ErrPermission, errors.New("x"))), fs.ErrPermission.Error()},
	} {
		if got := Cause(tc.err); got != tc.want {
			t.Errorf("Cause(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	l, h, _ := newTest(Options{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				l.Fail("share", fmt.Sprint(g), diskFull("x"))
				l.Flush()
			}
		}()
	}
	wg.Wait()
	if n := len(h.msgs()); n != 1 {
		t.Fatalf("%d lines, want 1: %q", n, h.msgs())
	}
}
