package guestagent

import (
	"context"
	"fmt"
	"io/fs"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/virtwatt/virtwatt/guestagent/measure"
	"github.com/virtwatt/virtwatt/internal/logcapture"
)

// namedSink is a Sink with a name whose Emit is scripted.
type namedSink struct {
	name string
	emit func(i int) error
	n    int
}

func (s *namedSink) Name() string { return s.name }
func (s *namedSink) Emit(context.Context, measure.Sample) error {
	s.n++
	return s.emit(s.n)
}

// TestOutputFailuresDoNotFlood: outputs that fail on every poll for two
// minutes, with a message that changes each time (a row number), or every
// other poll, log a start line, at most two summaries and a clear line
// each, not a line per poll.
func TestOutputFailuresDoNotFlood(t *testing.T) {
	const polls = 120
	full := func(i int) error {
		return fmt.Errorf("csv: append row %d to /var/lib/x.csv: %w", i,
			&fs.PathError{Op: "write", Path: "/var/lib/x.csv", Err: syscall.ENOSPC})
	}
	for _, tc := range []struct {
		name string
		emit func(i int) error
	}{
		{"every poll, changing message", func(i int) error {
			if i > polls {
				return nil
			}
			return full(i)
		}},
		{"every other poll", func(i int) error {
			if i > polls || i%2 == 0 {
				return nil
			}
			return fmt.Errorf("webhook: POST http://collector/: 503 Service Unavailable")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs, logger := logcapture.New()
			now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
			clock := func() time.Time { return now }
			cfg := testConfig(t.TempDir())
			cfg.PollInterval = Duration{time.Second}
			sink := &namedSink{name: "csv", emit: tc.emit}
			a, err := New(cfg, logger, withClock(clock), WithSink(sink))
			if err != nil {
				t.Fatal(err)
			}
			for range polls + 10 {
				a.poll(context.Background())
				now = now.Add(time.Second)
			}
			var lines []string
			for _, r := range logs.Records() {
				if v, ok := logcapture.Attr(r, "stage"); ok && v.String() == "output" {
					lines = append(lines, r.Message)
				} else if _, ok := logcapture.Attr(r, "output"); ok {
					lines = append(lines, r.Message)
				}
			}
			if len(lines) < 2 || len(lines) > 4 {
				t.Fatalf("%d output lines over %d failing polls, want start + ≤2 summaries + clear: %q",
					len(lines), polls, lines[:min(len(lines), 5)])
			}
			if lines[0] != "output failing" || lines[len(lines)-1] != "output recovered" {
				t.Errorf("lines %q, want output failing ... output recovered", lines)
			}
			if got := testOutputErrors(a, "csv"); got < polls/2 {
				t.Errorf("virtwatt_output_errors_total = %v, want every failure counted", got)
			}
		})
	}
}

func testOutputErrors(a *Agent, name string) float64 {
	return testutil.ToFloat64(a.outErrors.WithLabelValues(name))
}
