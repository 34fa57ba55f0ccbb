package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"syscall"

	"github.com/virtwatt/virtwatt/guestagent"
	"github.com/virtwatt/virtwatt/guestagent/discover"
	"github.com/virtwatt/virtwatt/guestagent/status"
)

const statusOverview = `virtwatt-guest status: one screen on this VM's share: found, mounted
read-only, fresh; the VM's power now; where the carbon intensity comes from;
and what to fix. Reads the share twice, one share interval apart (a few
seconds at most). Exits 0 when healthy, 1 when not, 2 on a usage error.

Usage:
  virtwatt-guest status [--config /etc/virtwatt/guest.toml] [flags]

Flags:
`

func statusUsage(fs *flag.FlagSet) {
	fmt.Fprint(fs.Output(), statusOverview)
	fs.PrintDefaults()
}

// runStatus runs `virtwatt-guest status [flags]`.
func runStatus(args []string, stdout, stderr io.Writer) int {
	cfg, rest, err := guestagent.ParseArgs("virtwatt-guest status", args, stdout, statusUsage)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "virtwatt-guest status: %v\n", err)
		return 2
	}
	if len(rest) > 0 {
		fmt.Fprintf(stderr, "virtwatt-guest status: unexpected arguments %q\n", rest)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cfg.Estimate = false // status judges the share itself, never the guest's estimate
	rep := status.Run(ctx, status.Options{ShareDir: cfg.ShareDir, Sampler: guestagent.NewShareSampler(cfg, nil)})
	if err := rep.Write(stdout); err != nil {
		fmt.Fprintf(stderr, "virtwatt-guest status: %v\n", err)
		return 1
	}
	if !rep.Healthy() {
		return 1
	}
	return 0
}

// discoverShare finds the share tagged "virtwatt" and mounts it read-only
// at cfg.ShareDir while that is not mounted, until ctx ends (see
// guestagent/discover).
func discoverShare(ctx context.Context, cfg guestagent.Config, logger *slog.Logger) {
	go discover.Run(ctx, discover.Options{ShareDir: cfg.ShareDir, Logger: logger})
}
