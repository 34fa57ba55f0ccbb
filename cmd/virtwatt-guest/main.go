// Command virtwatt-guest runs inside a virtual machine: it follows the
// VM's share, written by virtwatt-host on the hypervisor, and exports the
// VM's power, energy, emissions and water on a Prometheus endpoint and to
// CSV, JSON-lines and webhook outputs. `virtwatt-guest track -- CMD`
// measures one command.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	pversion "github.com/prometheus/common/version"

	"github.com/virtwatt/virtwatt/guestagent"
	"github.com/virtwatt/virtwatt/internal/cli"
	"github.com/virtwatt/virtwatt/internal/lifecycle"
)

// version is the old way to set the version at build time (-ldflags
// "-X main.version=v1.2.3"), still honoured; the Makefile sets
// github.com/prometheus/common/version's Version, Revision, Branch and
// BuildDate.
var version string

const overview = `virtwatt-guest: this VM's share of its host's measured energy, as Prometheus
metrics, CSV (CodeCarbon's columns), JSON lines and webhooks.

Usage:
  virtwatt-guest [run] [flags]                 follow the share and serve /metrics (default)
  virtwatt-guest track [flags] -- CMD [ARGS]   run CMD and report the energy and emissions it caused
  virtwatt-guest status [flags]                is the share found, mounted read-only, fresh? what to fix
  virtwatt-guest report [--format text|json]   the VM's footprint: embodied, dynamic, idle (g, %), with sources
  virtwatt-guest --version
  virtwatt-guest --list-countries | --list-cloud-regions

The share is the VM's directory written by virtwatt-host, mounted read-only, e.g.
  mount -t virtiofs -o ro virtwatt /mnt/virtwatt                        (virtiofs)
  mount -t 9p -o trans=virtio,version=9p2000.L,ro virtwatt /mnt/virtwatt  (9p)
Until it is there, the agent says so, exports virtwatt_share_up 0 and waits.

Settings come from the TOML file given with --config (see configs/guest.toml);
flags win over it.

Signals: SIGTERM and SIGINT stop the agent (outputs flushed and closed, exit 0;
a second one exits at once). SIGHUP is ignored with a log line: configuration
reload is not supported; restart the service to apply a new configuration.

Flags:
`

func main() {
	if os.Getenv("GOMAXPROCS") == "" {
		// One P: the guest does a little at a time, once a poll; with a
		// second, every wake-up also woke a thread to spin for work
		// (and the runtime re-read the cgroup's CPU limit every second).
		runtime.GOMAXPROCS(1)
	}
	os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
}

// Main runs the command line args and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	cli.SetVersion(version)
	cmd := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch globalFlag(args) {
	case "version":
		fmt.Fprint(stdout, cli.VersionText("virtwatt-guest"))
		return 0
	case "list-countries":
		listCountries(stdout)
		return 0
	case "list-cloud-regions":
		listCloudRegions(stdout)
		return 0
	}
	switch cmd {
	case "run":
		return runAgent(args, stdout, stderr)
	case "track":
		return runTrack(args, stdout, stderr)
	case "status":
		return runStatus(args, stdout, stderr)
	case "report":
		return runReport(args, stdout, stderr)
	case "version":
		fmt.Fprint(stdout, cli.VersionText("virtwatt-guest"))
		return 0
	case "help":
		printUsage(stdout, "virtwatt-guest")
		return 0
	}
	fmt.Fprintf(stderr, "virtwatt-guest: unknown command %q (want run, track, status or report; see --help)\n", cmd)
	return 2
}

// globalFlag returns "version", "list-countries" or "list-cloud-regions"
// when that flag is among the flags of args, and "" otherwise. Flags end
// where the flag package ends them, at the first argument that is not a
// flag or at "--": in `track -- CMD --version` the --version is CMD's.
func globalFlag(args []string) string {
	fs := guestagent.Spec("virtwatt-guest", io.Discard, nil).FlagSet()
	for _, name := range []string{"version", "list-countries", "list-cloud-regions"} {
		if cli.FlagGiven(args, fs, name) {
			return name
		}
	}
	return ""
}

func printUsage(w io.Writer, name string) {
	fs := guestagent.Spec(name, w, usage).FlagSet()
	usage(fs)
}

func usage(fs *flag.FlagSet) {
	fmt.Fprint(fs.Output(), overview)
	fs.PrintDefaults()
	fmt.Fprintln(fs.Output(), "\n  -list-countries\n    \tlist the countries and regions with carbon-intensity data\n  -list-cloud-regions\n    \tlist the cloud regions with carbon-intensity data")
}

func runAgent(args []string, stdout, stderr io.Writer) int {
	cfg, rest, err := guestagent.ParseArgs("virtwatt-guest", args, stdout, usage)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "virtwatt-guest: %v\n", err)
		return 2
	}
	if len(rest) > 0 {
		fmt.Fprintf(stderr, "virtwatt-guest: unexpected arguments %q (to measure a command: virtwatt-guest track -- CMD)\n", rest)
		return 2
	}
	logger := cli.NewLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	for _, w := range cfg.Warnings {
		logger.Warn(w)
	}

	outs, err := guestagent.BuildOutputs(cfg, logger)
	if err != nil {
		logger.Error("setting up outputs", "err", err)
		return 1
	}
	a, err := guestagent.New(cfg, logger, append(outs.Options(), guestagent.WithVersion(pversion.Version))...)
	if err != nil {
		outs.Close()
		logger.Error("configuration", "err", err)
		return 2
	}
	ctx, stop := lifecycle.SignalContext(context.Background(), logger)
	defer stop()
	discoverShare(ctx, cfg, logger) // mounts the share when --share-dir is not mounted
	if err := lifecycle.Run(ctx, lifecycle.StopGrace, a.Run); err != nil {
		logger.Error("virtwatt-guest failed", "err", err)
		return 1
	}
	return 0
}
