package cli

import (
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/prometheus/common/promslog"
)

// Levels and Formats are the values --log.level and --log.format take.
var (
	Levels  = promslog.LevelFlagOptions  // debug, info, warn, error
	Formats = promslog.FormatFlagOptions // logfmt, json
)

// Defaults of the log flags.
const (
	DefaultLogLevel  = "info"
	DefaultLogFormat = "logfmt"
)

// ParseLevel is the one parser of --log.level for both agents: debug,
// info, warn or error, in any case.
func ParseLevel(s string) (slog.Level, error) {
	l := promslog.NewLevel()
	if err := l.Set(s); err != nil {
		return slog.LevelInfo, fmt.Errorf("%q is not one of %s", s, strings.Join(Levels, ", "))
	}
	return l.Level(), nil
}

func checkFormat(s string) error {
	if !slices.Contains(Formats, s) {
		return fmt.Errorf("%q is not one of %s", s, strings.Join(Formats, ", "))
	}
	return nil
}

// NewLogger returns promslog's logger (the Prometheus ecosystem's line
// shape: time, level, source, msg) writing to w at level, in format
// (logfmt or json). Invalid values fall back to info and logfmt; Validate
// reports them.
func NewLogger(w io.Writer, level, format string) *slog.Logger {
	return NewLoggerAt(w, MustLevel(level), format)
}

// NewLoggerAt is NewLogger at a level already parsed.
func NewLoggerAt(w io.Writer, level slog.Level, format string) *slog.Logger {
	lv := promslog.NewLevel()
	_ = lv.Set(strings.ToLower(level.String()))
	f := promslog.NewFormat()
	if checkFormat(format) == nil {
		_ = f.Set(format)
	}
	return promslog.New(&promslog.Config{Level: lv, Format: f, Writer: w})
}

// MustLevel is ParseLevel's level, info when s is invalid.
func MustLevel(s string) slog.Level {
	l, _ := ParseLevel(s)
	return l
}
