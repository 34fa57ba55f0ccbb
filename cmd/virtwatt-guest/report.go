package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"syscall"

	"github.com/virtwatt/virtwatt/guestagent"
	"github.com/virtwatt/virtwatt/guestagent/account"
	"github.com/virtwatt/virtwatt/guestagent/measure"
	"github.com/virtwatt/virtwatt/guestagent/report"
)

const reportOverview = `virtwatt-guest report: this VM's footprint in the parts of the BLOOM paper's
table (Luccioni et al., 2022: embodied 22 %, dynamic 49 %, idle 29 %) — embodied,
dynamic and idle emissions in gCO2e and percent of their total, with the source
of every factor (carbon intensity, PUE, embodied, how the energy was obtained).

It reads the share once, as the agent does, and needs no running agent: the
figures are cumulative since the host's counters for this VM began (the
record's instance). Embodied is the host's own counter; the energy is priced
at the intensity and PUE of that record (the running agent's
virtwatt_vm_emissions_grams_total{part} prices each step at its own tick's).
Exits 0, or 1 when no share is usable, 2 on a usage error.

Usage:
  virtwatt-guest report [--config /etc/virtwatt/guest.toml] [--format text|json] [flags]

Flags:
`

func reportUsage(fs *flag.FlagSet) {
	fmt.Fprint(fs.Output(), reportOverview)
	fs.PrintDefaults()
}

// runReport runs `virtwatt-guest report [flags]`.
func runReport(args []string, stdout, stderr io.Writer) int {
	var format string
	cfg, rest, err := guestagent.ParseArgsWith("virtwatt-guest report", args, stdout, reportUsage, func(fs *flag.FlagSet) {
		fs.StringVar(&format, "format", "text", "output `format`: text (a table) or json (one document)")
	})
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err == nil && format != "text" && format != "json" {
		err = fmt.Errorf("--format %q: want text or json", format)
	}
	if err == nil && len(rest) > 0 {
		err = fmt.Errorf("unexpected arguments %q", rest)
	}
	if err != nil {
		fmt.Fprintf(stderr, "virtwatt-guest report: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// One read of the share: the guest's estimate could give nothing (its
	// first step is a baseline), and would hide a share that is not fresh.
	cfg.Estimate = false
	s, err := guestagent.NewShareSampler(cfg, nil).Sample(ctx)
	if err == nil && s.Mode != account.ModeRecord && s.Mode != account.ModeTree {
		err = errors.New("no share was read")
	}
	if err != nil {
		fmt.Fprintf(stderr, "virtwatt-guest report: %s: %v (is the share mounted there? see virtwatt-guest status)\n", cfg.ShareDir, err)
		return 1
	}
	b := report.From(s)
	b.Reads = reads(cfg.ShareDir, s)
	if format == "json" {
		err = b.WriteJSON(stdout)
	} else {
		err = writeReport(stdout, b)
	}
	if err != nil {
		fmt.Fprintf(stderr, "virtwatt-guest report: %v\n", err)
		return 1
	}
	return 0
}

// reads says what the report's figures come from.
func reads(dir string, s measure.Sample) string {
	what := "the share's record at " + dir + ", read once: cumulative since the host's counters for this VM began; energy priced at this record's intensity and PUE"
	if s.Mode == account.ModeTree {
		what = "the share's counters at " + dir + " (a tree: no record, so no dynamic/idle split and no embodied figure), read once; priced at the guest's own settings"
	}
	if !s.Up {
		what += "; the share is not fresh (its host is not updating it): figures as of its last update"
	}
	return what
}

func writeReport(w io.Writer, b report.Breakdown) error {
	vm := b.Domain
	if vm == "" {
		vm = "this VM"
	}
	if b.Host != "" {
		vm += " on " + b.Host
	}
	if b.UUID != "" {
		vm += " (uuid " + b.UUID + ")"
	}
	fmt.Fprintf(w, "virtwatt-guest report: %s\n", vm)
	fmt.Fprintf(w, "  reads    %s\n", b.Reads)
	if b.AsOf != "" {
		fmt.Fprintf(w, "  as of    %s (host time of the last update)\n", b.AsOf)
	}
	return b.WriteText(w, "  ")
}
