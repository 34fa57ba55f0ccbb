// Command virtwatt-host measures a KVM hypervisor's energy (RAPL), splits it
// across its libvirt VMs and writes each VM's share for virtwatt-guest.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/virtwatt/virtwatt/hostagent"
	"github.com/virtwatt/virtwatt/internal/lifecycle"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

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

Flags (every flag is also a key of the --config TOML file, with _ for -):
`, version)
	fs.PrintDefaults()
	fmt.Fprintf(out, `
Signals:
  SIGTERM, SIGINT  save the state file and exit 0 (a second one exits at once)
  SIGHUP           ignored, with a log line: configuration reload is not
                   supported; restart the service to apply a new configuration

Examples:
  virtwatt-host --config /etc/virtwatt/host.toml
  virtwatt-host --once --interval 2s
  virtwatt-host --demo --listen 127.0.0.1:28380
`)
}

func main() {
	if code, ok := runSubcommand(os.Args[1:]); ok { // attach, detach, doctor (subcommands.go)
		os.Exit(code)
	}
	if len(os.Args) > 1 && (os.Args[1] == "--version" || os.Args[1] == "-version") {
		fmt.Println("virtwatt-host", version)
		return
	}
	cfg, err := hostagent.ParseConfig(os.Args[1:], usage)
	if errors.Is(err, hostagent.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "virtwatt-host:", err)
		os.Exit(2)
	}
	log := hostagent.NewLogger(os.Stderr, cfg.LogLevel)
	ctx, stop := lifecycle.SignalContext(context.Background(), log)
	defer stop()
	err = lifecycle.Run(ctx, lifecycle.StopGrace, func(ctx context.Context) error {
		return hostagent.Main(ctx, cfg, os.Stdout, log)
	})
	if err != nil {
		log.Error("virtwatt-host stopped", "err", err)
		os.Exit(1)
	}
}
