package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"libvirt.org/go/libvirt"

	"github.com/virtwatt/virtwatt/hostagent"
	"github.com/virtwatt/virtwatt/hostagent/attach"
	"github.com/virtwatt/virtwatt/hostagent/doctor"
	"github.com/virtwatt/virtwatt/hostagent/domxml"
	"github.com/virtwatt/virtwatt/hostagent/romount"
	"github.com/virtwatt/virtwatt/internal/cli"
)

// runSubcommand runs `attach`, `detach`, `doctor` or `calibrate` when args[0] names
// one, and returns its exit code; ok is false for anything else (the
// agent's own flags).
func runSubcommand(args []string) (code int, ok bool) {
	if len(args) == 0 || !isSubcommand(args[0]) {
		return 0, false
	}
	var run func([]string, io.Writer, io.Writer) int
	switch args[0] {
	case "attach":
		run = cmdAttach
	case "detach":
		run = cmdDetach
	case "doctor":
		run = cmdDoctor
	case "calibrate":
		run = cmdCalibrate // calibrate.go
	default:
		return 0, false
	}
	return run(args[1:], os.Stdout, os.Stderr), true
}

// isSubcommand reports whether name is one of the subcommands.
func isSubcommand(name string) bool {
	return name == "attach" || name == "detach" || name == "doctor" || name == "calibrate"
}

// subFlags are the agent's keys the subcommands use: from --config, then
// the flags given.
type subFlags struct {
	fs                           *flag.FlagSet
	config                       string
	uri, shareRoot, roRoot       string
	powercapRoot, msrRoot, meter string
	stateFile, listen            string
	stderr                       io.Writer
}

func newSubFlags(name, usage string, stderr io.Writer) *subFlags {
	s := &subFlags{fs: flag.NewFlagSet("virtwatt-host "+name, flag.ContinueOnError), stderr: stderr}
	s.fs.SetOutput(stderr)
	s.fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: virtwatt-host %s %s\n\nFlags:\n", name, usage)
		s.fs.PrintDefaults()
	}
	s.fs.StringVar(&s.config, "config", "", "the agent's TOML config file (the settings below are read from it; a flag wins)")
	return s
}

// domainFlags adds the flags of the subcommands that look at domains and
// their shares.
func (s *subFlags) domainFlags() {
	d := hostagent.DefaultConfig()
	s.fs.StringVar(&s.uri, "libvirt-uri", d.LibvirtURI, "libvirt connection URI")
	s.fs.StringVar(&s.shareRoot, "share-root", d.ShareRoot, "directory holding one share directory per VM")
	s.fs.StringVar(&s.roRoot, "ro-root", d.RORoot, "directory of the read-only bind mounts virtiofs VMs export")
}

// meterFlags adds the flags of the subcommands that read the meter and the
// state file.
func (s *subFlags) meterFlags() {
	d := hostagent.DefaultConfig()
	s.fs.StringVar(&s.meter, "meter", d.Meter, "energy meter: auto, powercap, msr or estimate")
	s.fs.StringVar(&s.powercapRoot, "powercap-root", d.PowercapRoot, "powercap sysfs root")
	s.fs.StringVar(&s.msrRoot, "msr-root", d.MSRRoot, "root of the msr device files")
	s.fs.StringVar(&s.stateFile, "state-file", d.StateFile, "the agent's state file")
}

// listenFlags adds the agent's metrics address, for doctor to check.
func (s *subFlags) listenFlags() {
	d := hostagent.DefaultConfig()
	s.fs.StringVar(&s.listen, cli.FlagListenAddress, d.Listen, "the agent's metrics address")
	s.fs.StringVar(&s.listen, "listen", d.Listen, "deprecated: use --"+cli.FlagListenAddress)
}

// resolve applies the config file, then the flags that were set.
func (s *subFlags) resolve() (hostagent.Config, error) {
	cfg := hostagent.DefaultConfig()
	if s.config != "" {
		c, err := hostagent.ParseConfig([]string{"--config", s.config}, nil)
		if err != nil {
			return cfg, err
		}
		for _, w := range c.Warnings {
			fmt.Fprintf(s.stderr, "%s: %s\n", s.fs.Name(), w)
		}
		cfg = c
	}
	s.fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "libvirt-uri":
			cfg.LibvirtURI = s.uri
		case "share-root":
			cfg.ShareRoot = s.shareRoot
		case "ro-root":
			cfg.RORoot = s.roRoot
		case "meter":
			cfg.Meter = s.meter
		case "powercap-root":
			cfg.PowercapRoot = s.powercapRoot
		case "msr-root":
			cfg.MSRRoot = s.msrRoot
		case "state-file":
			cfg.StateFile = s.stateFile
		case "listen":
			fmt.Fprintf(s.stderr, "%s: flag --listen is deprecated and will be removed in the next release; use --%s\n", s.fs.Name(), cli.FlagListenAddress)
			cfg.Listen = s.listen
		case cli.FlagListenAddress:
			cfg.Listen = s.listen
		}
	})
	return cfg, nil
}

const attachUsage = `[flags] DOMAIN... | --all
       virtwatt-host attach --prepare DOMAIN < domain.xml   (libvirt qemu hook)

Adds the read-only virtwatt share (target dir 'virtwatt') to each domain's
persistent definition, creates its share directory and, for virtiofs, the
read-only bind mount it is exported from (and the shared memory backing
virtiofs needs). A second run changes nothing. Running VMs get the share at
their next start, or now with --live (virtiofs).`

func cmdAttach(args []string, stdout, stderr io.Writer) int {
	s := newSubFlags("attach", attachUsage, stderr)
	s.domainFlags()
	typ := s.fs.String("type", "9p", "share transport: 9p or virtiofs")
	all := s.fs.Bool("all", false, "every defined domain")
	live := s.fs.Bool("live", false, "also hot-plug into running VMs where libvirt and QEMU allow it (virtiofs)")
	dry := s.fs.Bool("dry-run", false, "print the XML diff and change nothing")
	prepare := s.fs.Bool("prepare", false, "hook mode: read DOMAIN's XML on stdin, create its share directory and ro mount; no libvirt call")
	virtiofsd := s.fs.String("virtiofsd", "", "virtiofsd path (default: the first of "+fmt.Sprint(attach.VirtiofsdPaths)+")")
	return withOpts(s, args, stdout, stderr, func(cfg hostagent.Config, o attach.Options, names []string) error {
		t, err := domxml.ParseFSType(*typ)
		if err != nil {
			return err
		}
		o.Type, o.Live, o.DryRun, o.Virtiofsd = t, *live, *dry, *virtiofsd
		if *prepare {
			if len(names) != 1 || *all {
				return errors.New("--prepare takes exactly one DOMAIN and its XML on stdin")
			}
			return attach.Prepare(names[0], os.Stdin, o)
		}
		return withConn(cfg, names, *all, func(conn *libvirt.Connect, names []string) error {
			o.NativeReadOnly = attach.NativeReadOnly(conn)
			return attach.Attach(conn, names, o)
		})
	})
}

func cmdDetach(args []string, stdout, stderr io.Writer) int {
	s := newSubFlags("detach", "[flags] DOMAIN... | --all\n\nRemoves from each domain exactly what attach added.", stderr)
	s.domainFlags()
	all := s.fs.Bool("all", false, "every defined domain")
	live := s.fs.Bool("live", false, "also unplug the share from running VMs where possible (virtiofs)")
	dry := s.fs.Bool("dry-run", false, "print the XML diff and change nothing")
	return withOpts(s, args, stdout, stderr, func(cfg hostagent.Config, o attach.Options, names []string) error {
		o.Live, o.DryRun = *live, *dry
		return withConn(cfg, names, *all, func(conn *libvirt.Connect, names []string) error {
			return attach.Detach(conn, names, o)
		})
	})
}

func withOpts(s *subFlags, args []string, stdout, stderr io.Writer, f func(hostagent.Config, attach.Options, []string) error) int {
	if err := s.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	cfg, err := s.resolve()
	if err != nil {
		fmt.Fprintln(stderr, "virtwatt-host:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	o := attach.Options{ShareRoot: cfg.ShareRoot, Mounts: romount.New(cfg.ShareRoot, cfg.RORoot, log), Out: stdout}
	if err := f(cfg, o, s.fs.Args()); err != nil {
		fmt.Fprintln(stderr, "virtwatt-host:", err)
		return 1
	}
	return 0
}

func withConn(cfg hostagent.Config, names []string, all bool, f func(*libvirt.Connect, []string) error) error {
	if all == (len(names) > 0) {
		return errors.New("name the domains, or give --all")
	}
	conn, err := libvirt.NewConnect(cfg.LibvirtURI)
	if err != nil {
		return fmt.Errorf("connect to libvirt %s (is libvirtd running, and are you root?): %w", cfg.LibvirtURI, err)
	}
	defer conn.Close()
	if all {
		if names, err = attach.AllNames(conn); err != nil {
			return err
		}
	}
	return f(conn, names)
}

func cmdDoctor(args []string, stdout, stderr io.Writer) int {
	s := newSubFlags("doctor", "[flags]\n\nChecks the installation and prints the fix for each problem; exits 0 only when all is well.", stderr)
	s.domainFlags()
	s.meterFlags()
	s.listenFlags()
	asJSON := s.fs.Bool("json", false, "print the report as JSON")
	if err := s.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if s.fs.NArg() > 0 {
		fmt.Fprintf(stderr, "virtwatt-host doctor: unexpected argument %q\n", s.fs.Arg(0))
		return 2
	}
	cfg, err := s.resolve()
	if err != nil {
		fmt.Fprintln(stderr, "virtwatt-host:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r := doctor.Run(ctx, doctor.Options{Meter: cfg.Meter, PowercapRoot: cfg.PowercapRoot, MSRRoot: cfg.MSRRoot,
		LibvirtURI: cfg.LibvirtURI, ShareRoot: cfg.ShareRoot, RORoot: cfg.RORoot, StateFile: cfg.StateFile,
		Listen: cfg.Listen, Interval: cfg.Interval, ProcRoot: cfg.ProcRoot, Estimate: cfg.EstimateParams(),
		Intensity: cfg.IntensityConfig()})
	if *asJSON {
		if err := r.WriteJSON(stdout); err != nil {
			return 1
		}
	} else {
		r.WriteText(stdout)
	}
	if !r.OK {
		return 1
	}
	return 0
}
