package hostagent

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/virtwatt/virtwatt/internal/condlog"
)

func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("%q is not one of debug, info, warn, error", s)
}

// NewLogger returns a text logger at the config's level.
func NewLogger(w io.Writer, level string) *slog.Logger {
	l, _ := parseLevel(level)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
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
