package hostagent

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/virtwatt/virtwatt/estimate"
	"github.com/virtwatt/virtwatt/hostagent/attribution"
	"github.com/virtwatt/virtwatt/hostagent/demo"
	"github.com/virtwatt/virtwatt/internal/cli"
	"github.com/virtwatt/virtwatt/internal/otlp"
	"github.com/virtwatt/virtwatt/internal/webserver"
	"github.com/virtwatt/virtwatt/share"
)

// Config is everything virtwatt-host can be told, from the TOML file
// (--config) and from flags; a flag that is set wins over the file.
// Each TOML key is the flag name with '.' and '-' replaced by '_'
// (internal/cli, shared with virtwatt-guest).
type Config struct {
	Interval     time.Duration `toml:"interval"`
	Meter        string        `toml:"meter"`
	PowercapRoot string        `toml:"powercap_root"`
	MSRRoot      string        `toml:"msr_root"`
	Zones        []string      `toml:"zones"`
	ProcRoot     string        `toml:"proc_root"`
	LibvirtURI   string        `toml:"libvirt_uri"`
	ShareRoot    string        `toml:"share_root"`
	RORoot       string        `toml:"ro_root"`
	StateFile    string        `toml:"state_file"`
	PruneAfter   time.Duration `toml:"prune_after"`
	Listen       string        `toml:"web_listen_address"`
	WebConfig    string        `toml:"web_config_file"`
	MaxConns     int           `toml:"web_max_connections"`
	Idle         string        `toml:"idle"`
	IdleModel    string        `toml:"idle_model"` // auto, time or curve (config_curve.go)
	Overhead     string        `toml:"overhead"`
	HostName     string        `toml:"host_name"`
	LogLevel     string        `toml:"log_level"`
	LogFormat    string        `toml:"log_format"`
	OTLP         otlp.Config   `toml:"otlp"` // [otlp] endpoint, headers, interval

	// Facility and grid figures copied into every VM's record.
	PUE                   float64 `toml:"pue"`
	WUE                   float64 `toml:"wue"`
	CarbonIntensity       float64 `toml:"carbon_intensity"`
	CarbonIntensitySource string  `toml:"carbon_intensity_source"`
	EmbodiedKgCO2e        float64 `toml:"embodied_kgco2e"`
	LifetimeYears         float64 `toml:"lifetime_years"`
	// The server the embodied figure scales to (config_embodied.go).
	EmbodiedSockets  int     `toml:"embodied_sockets"`
	EmbodiedMemoryGB float64 `toml:"embodied_memory_gb"`

	// A live intensity (hostagent/intensity): a file or an Electricity
	// Maps-shaped URL, polled every CarbonIntensityRefresh.
	CarbonIntensityFile     string        `toml:"carbon_intensity_file"`
	CarbonIntensityURL      string        `toml:"carbon_intensity_url"`
	CarbonIntensityAuthFile string        `toml:"carbon_intensity_auth_file"`
	CarbonIntensityRefresh  time.Duration `toml:"carbon_intensity_refresh"`

	// The estimating meter (meter = "estimate", or "auto" without RAPL):
	// model tdp's figures (package estimate, HostPowerParams).
	EstimateIdleFraction   float64 `toml:"estimate_idle_fraction"`
	EstimateWattsPerThread float64 `toml:"estimate_watts_per_thread"`
	EstimateDRAMWattsPerGB float64 `toml:"estimate_dram_watts_per_gb"`
	EstimateTDPWatts       float64 `toml:"estimate_tdp_watts"`
	// RecordSchema is the share record schema written: share.SchemaVersion,
	// or 1 for guests that read no newer (measured energy only).
	RecordSchema int `toml:"record_schema"`

	// PowerCurve is a calibrated curve per counted zone ([power_curve.<zone>]).
	PowerCurve map[string]CurveConfig `toml:"power_curve"`

	// Modes (flags only).
	Once    bool `toml:"-"`
	Demo    bool `toml:"-"`
	DemoVMs int  `toml:"-"` // VMs of the --demo world

	// Warnings are the deprecated flags and keys the command line used,
	// one line each, for the caller to log.
	Warnings []string `toml:"-"`
}

// DefaultConfig returns the defaults documented in configs/host.toml.
func DefaultConfig() Config {
	return Config{
		Interval:      time.Second,
		Meter:         "auto",
		PowercapRoot:  "/sys/class/powercap",
		MSRRoot:       "/dev/cpu",
		Zones:         []string{"package", "dram"},
		ProcRoot:      "/proc",
		LibvirtURI:    "qemu:///system",
		ShareRoot:     "/var/lib/virtwatt/vms",
		RORoot:        "/run/virtwatt/ro",
		StateFile:     "/var/lib/virtwatt/state.json",
		PruneAfter:    24 * time.Hour,
		Listen:        ":28380",
		MaxConns:      webserver.DefaultMaxConnections,
		Idle:          string(attribution.IdleVCPUs),
		IdleModel:     IdleModelAuto,
		Overhead:      string(attribution.OverheadVM),
		LogLevel:      cli.DefaultLogLevel,
		LogFormat:     cli.DefaultLogFormat,
		LifetimeYears: defaultLifetimeYears,
		// The reference rack server (config_embodied.go), amortised
		// unless set to 0.
		EmbodiedKgCO2e: defaultEmbodiedKgCO2e,

		EstimateIdleFraction:   estimate.DefaultIdleFraction,
		EstimateWattsPerThread: estimate.DefaultWattsPerThread,
		EstimateDRAMWattsPerGB: estimate.DefaultDRAMWattsPerGB,
		RecordSchema:           share.SchemaVersion,
	}
}

// Policy is the attribution policy the config selects.
func (c Config) Policy() attribution.Policy {
	return attribution.Policy{Idle: attribution.IdlePolicy(c.Idle), Overhead: attribution.OverheadPolicy(c.Overhead)}
}

// stringList is a comma-separated flag value.
type stringList struct{ p *[]string }

func (s stringList) String() string {
	if s.p == nil {
		return ""
	}
	return strings.Join(*s.p, ",")
}

func (s stringList) Set(v string) error {
	var out []string
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	*s.p = out
	return nil
}

// common is c's web and log fields, for internal/cli.
func (c *Config) common() cli.Common {
	return cli.Common{ListenAddress: &c.Listen, WebConfigFile: &c.WebConfig, MaxConnections: &c.MaxConns,
		LogLevel: &c.LogLevel, LogFormat: &c.LogFormat}
}

// bindFlags registers the host's own flags on fs, bound to c's fields
// (--config, the web, log and version flags are internal/cli's).
func bindFlags(fs *flag.FlagSet, c *Config) {
	fs.DurationVar(&c.Interval, "interval", c.Interval, "time between two readings of the meters and of libvirt")
	fs.StringVar(&c.Meter, "meter", c.Meter, "energy meter: auto (powercap, else MSR, else estimate), powercap, msr or estimate (model tdp, no RAPL)")
	fs.StringVar(&c.PowercapRoot, "powercap-root", c.PowercapRoot, "powercap sysfs root holding intel-rapl:N zones")
	fs.StringVar(&c.MSRRoot, "msr-root", c.MSRRoot, "root of the msr device files (<root>/N/msr)")
	fs.Var(stringList{&c.Zones}, "zones", "counted zones, comma-separated: package,dram (default) or psys")
	fs.StringVar(&c.ProcRoot, "proc-root", c.ProcRoot, "procfs root, for <root>/stat")
	fs.StringVar(&c.LibvirtURI, "libvirt-uri", c.LibvirtURI, "libvirt connection URI")
	fs.StringVar(&c.ShareRoot, "share-root", c.ShareRoot, "directory holding one share directory per VM (by domain name)")
	fs.StringVar(&c.RORoot, "ro-root", c.RORoot, "directory of the read-only bind mounts of virtiofs VMs' shares (<ro-root>/<name>)")
	fs.StringVar(&c.StateFile, "state-file", c.StateFile, "file keeping every VM's cumulative counters across restarts (outside the share root)")
	fs.DurationVar(&c.PruneAfter, "prune-after", c.PruneAfter, "remove a vanished domain's share directory after this long")
	fs.StringVar(&c.Idle, "idle", c.Idle, "who gets the host's idle energy: host, vcpus or busy")
	bindCurveFlags(fs, c)
	fs.StringVar(&c.Overhead, "overhead", c.Overhead, "who gets emulator/IO-thread CPU time: vm or host")
	fs.StringVar(&c.HostName, "host-name", c.HostName, "host name written into each record (default: the system's)")
	otlp.RegisterFlags(fs, &c.OTLP)
	fs.Float64Var(&c.PUE, "pue", c.PUE, "power usage effectiveness of the facility, written into records (0: not set)")
	fs.Float64Var(&c.WUE, "wue", c.WUE, "water usage effectiveness in L/kWh, written into records (0: not set)")
	fs.Float64Var(&c.CarbonIntensity, "carbon-intensity", c.CarbonIntensity, "grid carbon intensity in gCO2e/kWh, written into records (0: not set)")
	bindIntensityFlags(fs, c)
	fs.StringVar(&c.CarbonIntensitySource, "carbon-intensity-source", c.CarbonIntensitySource, "where --carbon-intensity comes from (free text)")
	fs.Float64Var(&c.EmbodiedKgCO2e, "embodied-kgco2e", c.EmbodiedKgCO2e, "the host's manufacturing emissions in kgCO2e (default: the reference rack server; 0: none)")
	fs.Float64Var(&c.LifetimeYears, "lifetime-years", c.LifetimeYears, "years over which embodied emissions are amortized")
	bindEmbodiedFlags(fs, c)
	fs.Float64Var(&c.EstimateIdleFraction, "estimate.idle-fraction", c.EstimateIdleFraction, "estimating meter: idle power as a fraction of P_max (default CCF's 0.74/3.5 W per vCPU)")
	fs.Float64Var(&c.EstimateWattsPerThread, "estimate.watts-per-thread", c.EstimateWattsPerThread, "estimating meter: P_max per hardware thread of a CPU not in the TDP table (default CCF's 3.5 W)")
	fs.Float64Var(&c.EstimateDRAMWattsPerGB, "estimate.dram-watts-per-gb", c.EstimateDRAMWattsPerGB, "estimating meter: DRAM power per GB of MemTotal (default CCF's 0.392 W/GB; 0: no dram zone)")
	fs.Float64Var(&c.EstimateTDPWatts, "estimate.tdp-watts", c.EstimateTDPWatts, "estimating meter: TDP per socket in W, overriding the table (0: from the table)")
	fs.IntVar(&c.RecordSchema, "record-schema", c.RecordSchema, "share record schema to write: 2, or 1 for guests older than schema 2 (measured energy only)")
	fs.BoolVar(&c.Once, "once", false, "take two readings one interval apart, print the per-VM split as a table and exit")
	fs.BoolVar(&c.Demo, "demo", false, "run the real pipeline on a simulated meter and three simulated VMs")
	fs.IntVar(&c.DemoVMs, "demo.vms", demo.DemoVMs, "with --demo, how many simulated VMs (the first three are named, the rest demo-vm-NNNN)")
}

// ErrHelp is returned by ParseConfig when -h or --help was asked for.
var ErrHelp = flag.ErrHelp

// Spec is virtwatt-host's command line, for internal/cli; usage prints -h
// to out (flag errors go there too).
func Spec(out io.Writer, usage func(fs *flag.FlagSet)) cli.Spec[Config] {
	return cli.Spec[Config]{
		Name:     "virtwatt-host",
		Example:  "configs/host.toml",
		Defaults: DefaultConfig,
		Common:   (*Config).common,
		Bind:     bindFlags,
		Usage:    usage,
		Output:   out,
	}
}

// ParseConfig builds the config from defaults, the TOML file named by
// --config, then the flags that were set, and validates it (every error
// at once). Usage and flag errors go to stderr.
func ParseConfig(args []string, usage func(fs *flag.FlagSet)) (Config, error) {
	return ParseConfigTo(os.Stderr, args, usage)
}

// ParseConfigTo is ParseConfig with usage and flag errors going to out.
func ParseConfigTo(out io.Writer, args []string, usage func(fs *flag.FlagSet)) (Config, error) {
	res, err := Spec(out, usage).Parse(args)
	cfg := res.Config
	if err != nil {
		return cfg, err
	}
	if len(res.Args) > 0 {
		return cfg, fmt.Errorf("unexpected argument %q (all options are flags)", res.Args[0])
	}
	cfg.Warnings = res.Warnings
	if cfg.Demo {
		def := DefaultConfig()
		dir := filepath.Join(os.TempDir(), "virtwatt-demo")
		if cfg.ShareRoot == def.ShareRoot {
			cfg.ShareRoot = filepath.Join(dir, "vms")
		}
		if cfg.StateFile == def.StateFile {
			cfg.StateFile = filepath.Join(dir, "state.json")
		}
	}
	if cfg.HostName == "" {
		cfg.HostName, _ = os.Hostname()
	}
	return cfg, cfg.Validate()
}

// Validate checks every value and names the key at fault.
func (c Config) Validate() error {
	var p cli.Problems
	bad := p.Add
	if err := share.CheckInterval(c.Interval); err != nil {
		bad("interval", "%v", err)
	}
	switch c.Meter {
	case "auto", "powercap", "msr", "estimate":
	default:
		bad("meter", "%q is not one of auto, powercap, msr, estimate", c.Meter)
	}
	c.validateEstimate(bad)
	if len(c.Zones) == 0 {
		bad("zones", "is empty; use [\"package\", \"dram\"] or [\"psys\"]")
	}
	seenZone := map[string]bool{}
	for _, z := range c.Zones {
		if seenZone[z] {
			bad("zones", "%q is listed twice", z)
		}
		seenZone[z] = true
		switch z {
		case "package", "dram":
			if !slices.Contains(c.Zones, "package") {
				bad("zones", "%v: dram is counted with package, never alone", c.Zones)
			}
		case "psys":
			if len(c.Zones) != 1 {
				bad("zones", "psys is the whole platform and cannot be combined with %v", c.Zones)
			}
		default:
			bad("zones", "%q is not one of package, dram, psys (core and uncore are inside package and never counted)", z)
		}
	}
	if err := c.Policy().Validate(); err != nil {
		bad("idle/overhead", "%v", err)
	}
	c.validateCurve(bad)
	if c.Demo && c.DemoVMs < 1 {
		bad("demo.vms", "must be >= 1, got %d", c.DemoVMs)
	}
	if c.ShareRoot == "" {
		bad("share-root", "must not be empty")
	}
	if c.StateFile != "" && c.ShareRoot != "" && within(c.ShareRoot, c.StateFile) {
		bad("state-file", "%s is inside share_root %s: a guest could read or plant it; put it outside", c.StateFile, c.ShareRoot)
	}
	if c.RORoot != "" && c.ShareRoot != "" && (within(c.ShareRoot, c.RORoot) || within(c.RORoot, c.ShareRoot)) {
		bad("ro-root", "%s and share_root %s overlap: the read-only views would be listed as VM directories or mounted over the shares; put ro_root beside share_root (default /run/virtwatt/ro)", c.RORoot, c.ShareRoot)
	}
	if c.PruneAfter < time.Minute {
		bad("prune-after", "%v is under a minute: a domain briefly missing from a listing would lose its share", c.PruneAfter)
	}
	if c.StateFile == "" && !c.Once {
		bad("state-file", "must not be empty: without it every counter restarts from zero at each restart")
	}
	for key, v := range map[string]float64{"pue": c.PUE, "wue": c.WUE, "carbon-intensity": c.CarbonIntensity, "embodied-kgco2e": c.EmbodiedKgCO2e} {
		if v < 0 || v != v {
			bad(key, "%v must be a non-negative number", v)
		}
	}
	if c.PUE != 0 && c.PUE < 1 {
		bad("pue", "%v is below 1 (PUE is total facility power over IT power)", c.PUE)
	}
	for _, pr := range c.intensityConfig().Check() {
		bad(pr.Key, "%s", pr.Msg)
	}
	if c.EmbodiedKgCO2e > 0 && c.LifetimeYears <= 0 {
		bad("lifetime-years", "%v must be positive when embodied_kgco2e is set", c.LifetimeYears)
	}
	c.validateEmbodied(bad)
	c.common().Validate(&p)
	if _, err := c.OTLP.Options("", ""); err != nil {
		p.AddErr(fmt.Errorf("config key otlp: %w", err))
	}
	return p.Err()
}
