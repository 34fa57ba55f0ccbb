package guestagent

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/virtwatt/virtwatt/estimate"
	"github.com/virtwatt/virtwatt/guestagent/account"
	"github.com/virtwatt/virtwatt/internal/cli"
	"github.com/virtwatt/virtwatt/internal/otlp"
	"github.com/virtwatt/virtwatt/internal/webserver"
	"github.com/virtwatt/virtwatt/share"
)

// Defaults of Config, as documented in configs/guest.toml.
const (
	DefaultShareDir     = "/mnt/virtwatt"
	DefaultPollInterval = time.Second
	DefaultListen       = ":28381"
	DefaultTopProcesses = 10
	DefaultProcRoot     = "/proc"
	DefaultCSVInterval  = 60 * time.Second
	DefaultLogLevel     = cli.DefaultLogLevel
	DefaultLogFormat    = cli.DefaultLogFormat
)

// DefaultProcScanInterval: the processes are scanned for the split at most
// this often (see procsplit's package doc for the trade-off).
const DefaultProcScanInterval = 5 * time.Second

// Config is the guest agent's configuration: the TOML file given with
// --config, overridden by flags. Pointers are unset when nil.
type Config struct {
	ShareDir      string   `toml:"share_dir"`
	PollInterval  Duration `toml:"poll_interval"`
	Listen        string   `toml:"web_listen_address"`
	WebConfigFile string   `toml:"web_config_file"`
	MaxConns      int      `toml:"web_max_connections"`

	CarbonIntensity *float64 `toml:"carbon_intensity"`
	Country         string   `toml:"country"`
	Region          string   `toml:"region"`
	CloudProvider   string   `toml:"cloud_provider"`
	CloudRegion     string   `toml:"cloud_region"`
	PUE             *float64 `toml:"pue"`
	WUE             *float64 `toml:"wue"`

	TopProcesses int    `toml:"top_processes"`
	ProcRoot     string `toml:"proc_root"`
	// Estimate: while no share is usable, estimate the VM's power from the
	// guest's CPU use (Cloud Carbon Footprint's model; package selfestimate).
	Estimate bool `toml:"estimate"`
	// ProcScanInterval is the least time between two scans of the guest's
	// processes; 0 scans at every share update.
	ProcScanInterval Duration `toml:"proc_scan_interval"`

	CSV         string   `toml:"csv"`
	CSVInterval Duration `toml:"csv_interval"`
	JSONL       string   `toml:"jsonl"`
	Webhook     string   `toml:"webhook"`

	LogLevel  string `toml:"log_level"`
	LogFormat string `toml:"log_format"`

	OTLP otlp.Config `toml:"otlp"` // [otlp] endpoint, headers, interval

	// ConfigFile is the --config path; not a TOML key.
	ConfigFile string `toml:"-"`
	// Warnings are the deprecated flags and keys the command line used,
	// one line each, for the caller to log.
	Warnings []string `toml:"-"`
}

// Duration is a time.Duration written as "1s", "250ms", "1m30s" in TOML.
type Duration struct{ time.Duration }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration: write it like \"1s\", \"500ms\" or \"1m\"", b)
	}
	d.Duration = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Defaults returns the configuration used when nothing is set.
func Defaults() Config {
	return Config{
		ShareDir:         DefaultShareDir,
		PollInterval:     Duration{DefaultPollInterval},
		Listen:           DefaultListen,
		MaxConns:         webserver.DefaultMaxConnections,
		TopProcesses:     DefaultTopProcesses,
		ProcRoot:         DefaultProcRoot,
		Estimate:         true,
		ProcScanInterval: Duration{DefaultProcScanInterval},
		CSVInterval:      Duration{DefaultCSVInterval},
		LogLevel:         DefaultLogLevel,
		LogFormat:        DefaultLogFormat,
	}
}

// loadFile decodes the TOML file at path over c. Unknown keys are errors
// that name the file and the key, so that a typo never silently falls back
// to a default; deprecated keys are applied and noted in c.Warnings.
func loadFile(path string, c *Config) error {
	var w cli.Warnings
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	c.common().Register(fs, &w)
	c.RegisterFlags(fs)
	if err := cli.LoadTOML(path, c, fs, &w); err != nil {
		return err
	}
	c.Warnings = append(c.Warnings, w.List()...)
	return nil
}

// knownKeys lists the top-level TOML keys of Config (not its tables').
func knownKeys() []string {
	var keys []string
	for _, k := range cli.Keys(&Config{}) {
		if !strings.Contains(k, ".") {
			keys = append(keys, k)
		}
	}
	return keys
}

// common is c's web and log fields, for internal/cli.
func (c *Config) common() cli.Common {
	return cli.Common{ListenAddress: &c.Listen, WebConfigFile: &c.WebConfigFile, MaxConnections: &c.MaxConns,
		LogLevel: &c.LogLevel, LogFormat: &c.LogFormat}
}

// Validate checks every value and names the key and flag of each wrong
// one, all at once.
func (c Config) Validate() error {
	var p cli.Problems
	c.common().Validate(&p)
	if _, err := c.OTLP.Options("", ""); err != nil {
		p.AddErr(fmt.Errorf("config key otlp: %w", err))
	}
	if c.ShareDir == "" {
		p.Add("share-dir", "must not be empty")
	}
	if err := share.CheckInterval(c.PollInterval.Duration); err != nil {
		p.Add("poll-interval", "%v", err)
	}
	if c.TopProcesses < 0 {
		p.Add("top-processes", "must be >= 0, got %d", c.TopProcesses)
	}
	if c.ProcScanInterval.Duration < 0 {
		p.Add("proc-scan-interval", "must be >= 0 (0: scan at every share update), got %v", c.ProcScanInterval)
	}
	if c.CSVInterval.Duration <= 0 {
		p.Add("csv-interval", "must be > 0, got %v", c.CSVInterval)
	}
	if c.CarbonIntensity != nil {
		if v := *c.CarbonIntensity; math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			p.Add("carbon-intensity", "want grams CO2e per kWh >= 0, got %v", v)
		}
	}
	if c.PUE != nil {
		if v := *c.PUE; math.IsNaN(v) || math.IsInf(v, 0) || v < 1 {
			p.Add("pue", "want a value >= 1 (1.0 is a perfect data center), got %v", v)
		}
	}
	if c.WUE != nil {
		if v := *c.WUE; math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			p.Add("wue", "want liters per kWh >= 0, got %v", v)
		}
	}
	if c.Webhook != "" {
		u, err := url.Parse(c.Webhook)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.Add("webhook", "want an http:// or https:// URL, got %q", c.Webhook)
		}
	}
	if err := c.Pricing().Check(); err != nil {
		p.AddErr(fmt.Errorf("carbon intensity settings (country, region, cloud_provider, cloud_region): %w", err))
	}
	return p.Err()
}

// Pricing is the guest's side of pricing energy, from c.
func (c Config) Pricing() account.Pricing {
	l := estimate.Lookup{Country: c.Country, Region: c.Region, CloudProvider: c.CloudProvider, CloudRegion: c.CloudRegion}
	if c.CarbonIntensity != nil {
		l.Override, l.OverrideSet = *c.CarbonIntensity, true
	}
	return account.Pricing{Lookup: l, PUE: c.PUE, WUE: c.WUE}
}

// SlogLevel is LogLevel as a slog.Level (info when invalid; Validate
// reports that).
func (c Config) SlogLevel() slog.Level { return cli.MustLevel(c.LogLevel) }

// RegisterFlags binds c's own fields to flags of fs, with c's values as
// the defaults (--config, the web, log and version flags are
// internal/cli's: see Spec).
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.ShareDir, "share-dir", c.ShareDir, "`dir`ectory where the VM's share is mounted (read-only)")
	fs.DurationVar(&c.PollInterval.Duration, "poll-interval", c.PollInterval.Duration, "how often to read the share")
	fs.Var(optFloat{&c.CarbonIntensity}, "carbon-intensity", "carbon intensity in `g`CO2e/kWh; wins over the host's value and the tables")
	fs.StringVar(&c.Country, "country", c.Country, "ISO 3166 alpha-2 or alpha-3 `code` for the carbon-intensity table (see --list-countries)")
	fs.StringVar(&c.Region, "region", c.Region, "US state or Nordic zone (SE1..SE4, NO1..NO5, FI) with --country")
	fs.StringVar(&c.CloudProvider, "cloud-provider", c.CloudProvider, "cloud `provider` (aws, gcp, azure) with --cloud-region")
	fs.StringVar(&c.CloudRegion, "cloud-region", c.CloudRegion, "cloud `region` for the carbon-intensity table (see --list-cloud-regions)")
	fs.Var(optFloat{&c.PUE}, "pue", "power usage effectiveness `factor` (>= 1); wins over the host's value; default 1.0")
	fs.Var(optFloat{&c.WUE}, "wue", "water usage effectiveness in `L/kWh`; wins over the host's value; default 0")
	fs.IntVar(&c.TopProcesses, "top-processes", c.TopProcesses, "how many processes get virtwatt_process_power_watts (0: none)")
	fs.StringVar(&c.ProcRoot, "proc-root", c.ProcRoot, "where the guest's procfs is mounted")
	fs.BoolVar(&c.Estimate, "estimate", c.Estimate, "while no share is usable, estimate the VM's power from its CPU use (Cloud Carbon Footprint's model), exported with method=\"estimated\"; --estimate=false exports nothing then")
	fs.DurationVar(&c.ProcScanInterval.Duration, "proc-scan-interval", c.ProcScanInterval.Duration, "scan the guest's processes for the per-process split at most this often (0: at every share update)")
	fs.StringVar(&c.CSV, "csv", c.CSV, "append CodeCarbon-style emissions rows to this `file`")
	fs.DurationVar(&c.CSVInterval.Duration, "csv-interval", c.CSVInterval.Duration, "one CSV row per this interval")
	fs.StringVar(&c.JSONL, "jsonl", c.JSONL, "append one JSON line per sample to this `file`")
	fs.StringVar(&c.Webhook, "webhook", c.Webhook, "POST each sample as JSON to this `URL`")
	otlp.RegisterFlags(fs, &c.OTLP)
}

// Spec is virtwatt-guest's command line (name: "virtwatt-guest" or
// "virtwatt-guest track"), for internal/cli; -h prints usage to out.
func Spec(name string, out io.Writer, usage func(fs *flag.FlagSet)) cli.Spec[Config] {
	return cli.Spec[Config]{
		Name:     name,
		Example:  "configs/guest.toml",
		Defaults: Defaults,
		Common:   (*Config).common,
		Bind:     func(fs *flag.FlagSet, c *Config) { c.RegisterFlags(fs) },
		Usage:    usage,
		Output:   out,
	}
}

// ParseArgs builds a Config from args: defaults, then the --config file,
// then every flag given (flags win), and validates it (every error at
// once). It returns the arguments after the flags (after "--" for track).
// With -h it prints usage to out and returns flag.ErrHelp.
func ParseArgs(name string, args []string, out io.Writer, usage func(fs *flag.FlagSet)) (Config, []string, error) {
	return ParseArgsWith(name, args, out, usage, nil)
}

// ParseArgsWith is ParseArgs for a subcommand with flags of its own,
// bound to the flag set by extra (nil for none).
func ParseArgsWith(name string, args []string, out io.Writer, usage func(fs *flag.FlagSet), extra func(fs *flag.FlagSet)) (Config, []string, error) {
	spec := Spec(name, out, usage)
	if extra != nil {
		bind := spec.Bind
		spec.Bind = func(fs *flag.FlagSet, c *Config) { bind(fs, c); extra(fs) }
	}
	res, err := spec.Parse(args)
	if err != nil {
		return Config{}, nil, err
	}
	cfg := res.Config
	cfg.ConfigFile, cfg.Warnings = res.ConfigFile, res.Warnings
	if err := cfg.Validate(); err != nil {
		if cfg.ConfigFile != "" {
			return Config{}, nil, fmt.Errorf("%w\n(from %s and flags)", err, cfg.ConfigFile)
		}
		return Config{}, nil, err
	}
	return cfg, res.Args, nil
}

// optFloat is a flag.Value for an optional float.
type optFloat struct{ p **float64 }

func (o optFloat) String() string {
	if o.p == nil || *o.p == nil {
		return ""
	}
	return strconv.FormatFloat(**o.p, 'g', -1, 64)
}

func (o optFloat) Set(s string) error {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("%q is not a number", s)
	}
	*o.p = &v
	return nil
}
