package guestagent

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/virtwatt/virtwatt/estimate"
	"github.com/virtwatt/virtwatt/guestagent/account"
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
	DefaultLogLevel     = "info"
)

// Config is the guest agent's configuration: the TOML file given with
// --config, overridden by flags. Pointers are unset when nil.
type Config struct {
	ShareDir      string   `toml:"share_dir"`
	PollInterval  Duration `toml:"poll_interval"`
	Listen        string   `toml:"listen"`
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

	CSV         string   `toml:"csv"`
	CSVInterval Duration `toml:"csv_interval"`
	JSONL       string   `toml:"jsonl"`
	Webhook     string   `toml:"webhook"`

	LogLevel string `toml:"log_level"`

	OTLP otlp.Config `toml:"otlp"` // [otlp] endpoint, headers, interval

	// ConfigFile is the --config path; not a TOML key.
	ConfigFile string `toml:"-"`
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
		ShareDir:     DefaultShareDir,
		PollInterval: Duration{DefaultPollInterval},
		Listen:       DefaultListen,
		MaxConns:     webserver.DefaultMaxConnections,
		TopProcesses: DefaultTopProcesses,
		ProcRoot:     DefaultProcRoot,
		CSVInterval:  Duration{DefaultCSVInterval},
		LogLevel:     DefaultLogLevel,
	}
}

// LoadFile decodes the TOML file at path over c. Unknown keys are errors
// that name the key, so that a typo never silently falls back to a default.
func LoadFile(path string, c *Config) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	md, err := toml.Decode(string(b), c)
	if err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			where := ""
			if perr.LastKey != "" {
				where = fmt.Sprintf(" key %q:", perr.LastKey)
			}
			return fmt.Errorf("config %s:%s %s", path, where, strings.TrimSpace(perr.ErrorWithPosition()))
		}
		return fmt.Errorf("config %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = strconv.Quote(k.String())
		}
		return fmt.Errorf("config %s: unknown key %s (known keys: %s)", path, strings.Join(keys, ", "),
			strings.Join(knownKeys(), ", "))
	}
	return nil
}

// knownKeys lists the TOML keys of Config.
func knownKeys() []string {
	keys := []string{
		"share_dir", "poll_interval", "listen", "web_config_file", "web_max_connections", "carbon_intensity", "country", "region",
		"cloud_provider", "cloud_region", "pue", "wue", "top_processes", "proc_root", "csv", "csv_interval",
		"jsonl", "webhook", "log_level",
	}
	sort.Strings(keys)
	return keys
}

// Validate checks every value and names the key (and flag) of the first
// wrong one.
func (c Config) Validate() error {
	if _, err := c.OTLP.Options("", ""); err != nil {
		return err
	}
	switch {
	case c.ShareDir == "":
		return errors.New("share_dir (--share-dir): must not be empty")
	case share.CheckInterval(c.PollInterval.Duration) != nil:
		return fmt.Errorf("poll_interval (--poll-interval): %w", share.CheckInterval(c.PollInterval.Duration))
	case c.Listen == "":
		return errors.New("listen (--listen): must not be empty (\":28381\", \"127.0.0.1:28381\")")
	case c.MaxConns < 1 || c.MaxConns > webserver.MaxMaxConnections:
		return fmt.Errorf("web_max_connections (--web.max-connections): must be 1 to %d, got %d", webserver.MaxMaxConnections, c.MaxConns)
	case c.TopProcesses < 0:
		return fmt.Errorf("top_processes (--top-processes): must be >= 0, got %d", c.TopProcesses)
	case c.CSVInterval.Duration <= 0:
		return fmt.Errorf("csv_interval (--csv-interval): must be > 0, got %v", c.CSVInterval)
	}
	if c.CarbonIntensity != nil {
		if v := *c.CarbonIntensity; math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return fmt.Errorf("carbon_intensity (--carbon-intensity): want grams CO2e per kWh >= 0, got %v", v)
		}
	}
	if c.PUE != nil {
		if v := *c.PUE; math.IsNaN(v) || math.IsInf(v, 0) || v < 1 {
			return fmt.Errorf("pue (--pue): want a value >= 1 (1.0 is a perfect data center), got %v", v)
		}
	}
	if c.WUE != nil {
		if v := *c.WUE; math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return fmt.Errorf("wue (--wue): want liters per kWh >= 0, got %v", v)
		}
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return err
	}
	if c.Webhook != "" {
		u, err := url.Parse(c.Webhook)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("webhook (--webhook): want an http:// or https:// URL, got %q", c.Webhook)
		}
	}
	if err := c.Pricing().Check(); err != nil {
		return fmt.Errorf("carbon intensity settings (country, region, cloud_provider, cloud_region): %w", err)
	}
	return nil
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
func (c Config) SlogLevel() slog.Level {
	l, _ := parseLevel(c.LogLevel)
	return l
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo, fmt.Errorf("log_level (--log-level): want debug, info, warn or error, got %q", s)
	}
	return l, nil
}

// RegisterFlags binds c's fields to flags of fs, with c's values as the
// defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.ConfigFile, "config", c.ConfigFile, "TOML configuration `file` (flags win over it); see configs/guest.toml")
	fs.StringVar(&c.ShareDir, "share-dir", c.ShareDir, "`dir`ectory where the VM's share is mounted (read-only)")
	fs.DurationVar(&c.PollInterval.Duration, "poll-interval", c.PollInterval.Duration, "how often to read the share")
	fs.StringVar(&c.Listen, "listen", c.Listen, "`address` of the /metrics endpoint")
	fs.StringVar(&c.WebConfigFile, "web.config.file", c.WebConfigFile, "exporter-toolkit web config `file` for TLS and basic auth (optional)")
	fs.IntVar(&c.MaxConns, "web.max-connections", c.MaxConns, "most connections the endpoint serves at once (lowered to keep file descriptors for measurement)")
	fs.Var(optFloat{&c.CarbonIntensity}, "carbon-intensity", "carbon intensity in `g`CO2e/kWh; wins over the host's value and the tables")
	fs.StringVar(&c.Country, "country", c.Country, "ISO 3166 alpha-2 or alpha-3 `code` for the carbon-intensity table (see --list-countries)")
	fs.StringVar(&c.Region, "region", c.Region, "US state or Nordic zone (SE1..SE4, NO1..NO5, FI) with --country")
	fs.StringVar(&c.CloudProvider, "cloud-provider", c.CloudProvider, "cloud `provider` (aws, gcp, azure) with --cloud-region")
	fs.StringVar(&c.CloudRegion, "cloud-region", c.CloudRegion, "cloud `region` for the carbon-intensity table (see --list-cloud-regions)")
	fs.Var(optFloat{&c.PUE}, "pue", "power usage effectiveness `factor` (>= 1); wins over the host's value; default 1.0")
	fs.Var(optFloat{&c.WUE}, "wue", "water usage effectiveness in `L/kWh`; wins over the host's value; default 0")
	fs.IntVar(&c.TopProcesses, "top-processes", c.TopProcesses, "how many processes get virtwatt_process_power_watts (0: none)")
	fs.StringVar(&c.ProcRoot, "proc-root", c.ProcRoot, "where the guest's procfs is mounted")
	fs.StringVar(&c.CSV, "csv", c.CSV, "append CodeCarbon-style emissions rows to this `file`")
	fs.DurationVar(&c.CSVInterval.Duration, "csv-interval", c.CSVInterval.Duration, "one CSV row per this interval")
	fs.StringVar(&c.JSONL, "jsonl", c.JSONL, "append one JSON line per sample to this `file`")
	fs.StringVar(&c.Webhook, "webhook", c.Webhook, "POST each sample as JSON to this `URL`")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	otlp.RegisterFlags(fs, &c.OTLP)
}

// ParseArgs builds a Config from args: defaults, then the --config file,
// then every flag given (flags win). It returns the arguments after the
// flags (after "--" for track). With -h it prints usage to out and returns
// flag.ErrHelp.
func ParseArgs(name string, args []string, out io.Writer, usage func(fs *flag.FlagSet)) (Config, []string, error) {
	cfg := Defaults()
	fs := newFlagSet(name, &cfg, out, usage)
	if err := fs.Parse(args); err != nil {
		return Config{}, nil, err
	}
	if cfg.ConfigFile == "" {
		return cfg, fs.Args(), cfg.Validate()
	}
	file := Defaults()
	if err := LoadFile(cfg.ConfigFile, &file); err != nil {
		return Config{}, nil, err
	}
	fs = newFlagSet(name, &file, io.Discard, nil)
	if err := fs.Parse(args); err != nil {
		return Config{}, nil, err
	}
	if err := file.Validate(); err != nil {
		return Config{}, nil, fmt.Errorf("%w (from %s and flags)", err, file.ConfigFile)
	}
	return file, fs.Args(), nil
}

func newFlagSet(name string, c *Config, out io.Writer, usage func(fs *flag.FlagSet)) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	c.RegisterFlags(fs)
	if usage != nil {
		fs.Usage = func() { usage(fs) }
	}
	return fs
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
