// Command virtwatt-host measures a KVM hypervisor's energy (RAPL), splits it
// across its libvirt VMs and writes each VM's share for virtwatt-guest.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	pversion "github.com/prometheus/common/version"

	"github.com/virtwatt/virtwatt/hostagent"
	"github.com/virtwatt/virtwatt/internal/cli"
	"github.com/virtwatt/virtwatt/internal/lifecycle"
	"github.com/virtwatt/virtwatt/internal/startpages"
)

// version is the old way to set the version at build time (-ldflags
// "-X main.version=..."), still honoured; the Makefile sets
// github.com/prometheus/common/version's Version, Revision, Branch and
// BuildDate.
var version string

func usage(fs *flag.FlagSet) {
	out := fs.Output()
	fmt.Fprintf(out, `virtwatt-host %s — per-VM energy on a KVM hypervisor

Reads the CPU package and DRAM energy counters (RAPL via powercap or MSR),
every VM's vCPU time through libvirt, splits the energy across VMs with exact
conservation, and writes each VM's cumulative energy into <share-root>/<name>/
(a powercap-shaped tree plus virtwatt.json) for virtwatt-guest to read.

Usage:
  virtwatt-host [flags]                 run the agent
  virtwatt-host --once                  print one per-VM split and exit
  virtwatt-host --demo                  simulated meter and VMs, real shares and metrics
  virtwatt-host --version               version, revision, Go version, build date

Flags (every flag is also a key of the --config TOML file, with _ for . and -):
`, pversion.Version)
	fs.PrintDefaults()
	fmt.Fprintf(out, `
Signals:
  SIGTERM, SIGINT  save the state file and exit 0 (a second one exits at once)
  SIGHUP           ignored, with a log line: configuration reload is not
                   supported; restart the service to apply a new configuration

Examples:
  virtwatt-host --config /etc/virtwatt/host.toml
  virtwatt-host --once --interval 2s
  virtwatt-host --demo --web.listen-address 127.0.0.1:28380
`)
}

func main() {
	os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
}

// Main runs the command line args and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	cli.SetVersion(version)
	hostagent.Version = pversion.Version // virtwatt_host_info, OTLP
	spec := hostagent.Spec(stderr, usage)
	if len(args) > 0 && isSubcommand(args[0]) {
		if spec.WantsVersion(args[1:]) {
			fmt.Fprint(stdout, cli.VersionText("virtwatt-host"))
			return 0
		}
		code, _ := runSubcommand(args) // attach, detach, doctor (subcommands.go)
		return code
	}
	if spec.WantsVersion(args) {
		fmt.Fprint(stdout, cli.VersionText("virtwatt-host"))
		return 0
	}
	cfg, err := hostagent.ParseConfigTo(stderr, args, usage)
	if errors.Is(err, hostagent.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "virtwatt-host:", err)
		return 2
	}
	log := hostagent.NewLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	for _, w := range cfg.Warnings {
		log.Warn(w)
	}
	ctx, stop := lifecycle.SignalContext(context.Background(), log)
	defer stop()
	trimMemory(log)
	err = lifecycle.Run(ctx, lifecycle.StopGrace, func(ctx context.Context) error {
		return hostagent.Main(ctx, cfg, stdout, log)
	})
	if err != nil {
		log.Error("virtwatt-host stopped", "err", err)
		return 1
	}
	return 0
}

// gcPercent is the GC target virtwatt-host runs with unless GOGC is set:
// the heap grows to 1.5× what is live before a collection, not 2× (at
// 1,000 VMs 2-3 MB less RSS, at no measurable CPU cost: README
// "Performance").
const gcPercent = 50

// startPagesAfter is when the agent gives back the pages of its binary
// that only the start touched (startpages): the first ticks, which create
// every share, are over by then.
const startPagesAfter = 30 * time.Second

// trimMemory sets the GC target and schedules the release of the start's
// pages.
func trimMemory(log *slog.Logger) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	time.AfterFunc(startPagesAfter, func() {
		n, err := startpages.Release()
		if err != nil {
			log.Debug("start pages not released", "err", err)
			return
		}
		log.Debug("start pages released", "bytes", n)
	})
}
