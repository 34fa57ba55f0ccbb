package hostagent

import (
	"io"
	"log/slog"
	"time"

	"github.com/virtwatt/virtwatt/internal/cli"
	"github.com/virtwatt/virtwatt/internal/condlog"
)

// NewLogger returns the agent's logger at the config's level and format
// (internal/cli, the same as virtwatt-guest's).
func NewLogger(w io.Writer, level, format string) *slog.Logger {
	return cli.NewLogger(w, level, format)
}

// newCondLog returns the agent's log of failing stages: a condition (a
// stage failing for one cause, for any number of domains) is logged when
// it starts, summarized at most once a minute, and logged when it has not
// recurred for two intervals, never once per domain per tick.
func newCondLog(log *slog.Logger, interval time.Duration, now func() time.Time) *condlog.Logger {
	return condlog.New(log, condlog.Options{
		Every:      time.Minute,
		ClearAfter: 2 * interval,
		Now:        now,
		Subject:    "domain",
		Subjects:   "domains",
	})
}
