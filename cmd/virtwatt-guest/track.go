package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/virtwatt/virtwatt/guestagent"
	"github.com/virtwatt/virtwatt/guestagent/output"
	"github.com/virtwatt/virtwatt/guestagent/track"
	"github.com/virtwatt/virtwatt/internal/cli"
)

const trackOverview = `virtwatt-guest track: run a command and report the VM energy, emissions and
water it caused (its process tree's share of the VM's measured energy), like
CodeCarbon's EmissionsTracker. Exits with the command's exit code.

Usage:
  virtwatt-guest track [flags] -- CMD [ARGS]
  virtwatt-guest track --country FR --csv emissions.csv -- python train.py

The summary goes to stderr; with --csv one row (tracking_mode "process") is
appended. --poll-interval is the sampling period while the command runs.

Flags:
`

func trackUsage(fs *flag.FlagSet) {
	fmt.Fprint(fs.Output(), trackOverview)
	fs.PrintDefaults()
}

// runTrack runs `virtwatt-guest track [flags] -- CMD ARGS`.
func runTrack(args []string, stdout, stderr io.Writer) int {
	cfg, argv, err := guestagent.ParseArgs("virtwatt-guest track", args, stdout, trackUsage)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "virtwatt-guest track: %v\n", err)
		return track.ExitUsage
	}
	if len(argv) == 0 {
		fmt.Fprintln(stderr, "virtwatt-guest track: no command given (virtwatt-guest track [flags] -- CMD ARGS)")
		return track.ExitUsage
	}
	// The summary says what went wrong with the measurement; the log only
	// adds to it at warn, or at debug when asked.
	level := max(cfg.SlogLevel(), slog.LevelWarn)
	if cfg.SlogLevel() < slog.LevelInfo {
		level = cfg.SlogLevel()
	}
	logger := cli.NewLoggerAt(stderr, level, cfg.LogFormat)
	for _, w := range cfg.Warnings {
		logger.Warn(w)
	}

	var csv *output.CSV
	if cfg.CSV != "" {
		// A measurement output that fails never stops the work: the
		// command runs, and the summary still goes to stderr.
		if csv, err = guestagent.NewCSV(cfg, logger); err != nil {
			fmt.Fprintf(stderr, "virtwatt-guest track: %v; running the command without the CSV row\n", err)
			csv = nil
		} else {
			defer csv.Close()
		}
	}
	code, err := track.Run(context.Background(), track.Options{
		Sampler:  guestagent.NewShareSampler(cfg, logger),
		ProcRoot: cfg.ProcRoot,
		Interval: cfg.PollInterval.Duration,
		Out:      stderr,
		CSV:      csv,
		Logger:   logger,
	}, argv)
	if err != nil {
		fmt.Fprintf(stderr, "virtwatt-guest %v\n", err)
	}
	return code
}
