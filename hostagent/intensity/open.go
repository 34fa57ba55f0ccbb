package intensity

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/virtwatt/virtwatt/internal/regfile"
)

// Default polling periods: a local file is cheap to read; Electricity
// Maps publishes hourly values and counts every request.
const (
	DefaultFileRefresh = 30 * time.Second
	DefaultURLRefresh  = 5 * time.Minute
	MinRefresh         = time.Second
	MaxRefresh         = 24 * time.Hour
)

// Config is what the agent's configuration says about the intensity.
type Config struct {
	GramsPerKWh float64 // carbon_intensity: the constant, or a live source's value until its first good reading
	SourceText  string  // carbon_intensity_source
	File        string  // carbon_intensity_file
	URL         string  // carbon_intensity_url
	AuthFile    string  // carbon_intensity_auth_file
	Refresh     time.Duration
	UserAgent   string
}

// Live reports whether c names a live source.
func (c Config) Live() bool { return c.File != "" || c.URL != "" }

// RefreshOrDefault is the polling period in force.
func (c Config) RefreshOrDefault() time.Duration {
	switch {
	case c.Refresh > 0:
		return c.Refresh
	case c.URL != "":
		return DefaultURLRefresh
	default:
		return DefaultFileRefresh
	}
}

// Problem is a configuration error, by key (TOML name).
type Problem struct{ Key, Msg string }

// Check validates c without touching files or the network.
func (c Config) Check() []Problem {
	var ps []Problem
	bad := func(k, f string, a ...any) { ps = append(ps, Problem{k, fmt.Sprintf(f, a...)}) }
	if c.File != "" && c.URL != "" {
		bad("carbon_intensity_file", "and carbon_intensity_url are both set: set one")
	}
	if c.URL != "" {
		if _, err := CheckURL(c.URL); err != nil {
			bad("carbon_intensity_url", "%v", err)
		}
	}
	if c.AuthFile != "" && c.URL == "" {
		bad("carbon_intensity_auth_file", "is set without carbon_intensity_url: set the URL or remove it")
	}
	if c.Refresh != 0 {
		switch {
		case !c.Live():
			bad("carbon_intensity_refresh", "is set without carbon_intensity_file or carbon_intensity_url: set one or remove it")
		case c.Refresh < MinRefresh || c.Refresh > MaxRefresh:
			bad("carbon_intensity_refresh", "%v is outside %v to %v (0: %v for a file, %v for a URL)",
				c.Refresh, MinRefresh, MaxRefresh, DefaultFileRefresh, DefaultURLRefresh)
		}
	}
	if c.GramsPerKWh != 0 {
		if err := Check(c.GramsPerKWh); err != nil {
			bad("carbon_intensity", "%v", err)
		}
	}
	return ps
}

// Options are what Open needs besides the configuration.
type Options struct {
	Log    *slog.Logger
	OnFail func(error) // called for each refused reading (to count it)
	Now    func() time.Time
}

// Open returns the Source c configures: Static without a live source;
// else a Poller that has polled once (its Run keeps it polling). A file
// that cannot be read, an auth file that is unreadable or malformed, fail
// here with the key and the fix; a first reading that is refused does
// not (a network down at boot): it is logged, and the constant serves
// until a reading is good.
func Open(ctx context.Context, c Config, o Options) (Source, *Poller, error) {
	static := NewStatic(c.GramsPerKWh, c.SourceText)
	if !c.Live() {
		return static, nil, nil
	}
	if ps := c.Check(); len(ps) > 0 {
		return nil, nil, fmt.Errorf("config key %s %s", ps[0].Key, ps[0].Msg)
	}
	var f Fetcher
	if c.File != "" {
		fd, err := regfile.Open(c.File, 0)
		if err != nil {
			fix := "fix the path or the permissions"
			if errors.Is(err, fs.ErrNotExist) {
				fix = "create it first (the tool that rewrites it must run before virtwatt-host), or fix the path"
			}
			return nil, nil, fmt.Errorf("config key carbon_intensity_file: %w: %s", err, fix)
		}
		fd.Close()
		f = File{Path: c.File, Now: o.Now}
	} else {
		u, err := NewURL(URLOptions{URL: c.URL, AuthFile: c.AuthFile, UserAgent: c.UserAgent, Now: o.Now})
		if err != nil {
			return nil, nil, fmt.Errorf("config key %w", err)
		}
		if c.AuthFile != "" && o.Log != nil {
			if fi, err := os.Stat(c.AuthFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
				o.Log.Warn("carbon_intensity_auth_file is readable by others: chmod 600 it", "file", c.AuthFile, "mode", fi.Mode().Perm())
			}
		}
		f = u
	}
	p := NewPoller(f, PollerOptions{Every: c.RefreshOrDefault(), Fallback: Value(static), Now: o.Now, Log: o.Log, OnFail: o.OnFail})
	pctx, cancel := context.WithTimeout(ctx, FetchTimeout)
	defer cancel()
	if err := p.Poll(pctx); err != nil && o.Log != nil && ctx.Err() == nil {
		cur := p.Current()
		o.Log.Warn("no carbon intensity from the live source yet: records carry the configured constant until a reading is good",
			"g_per_kwh", cur.GramsPerKWh, "intensity_source", cur.Source, "refresh", c.RefreshOrDefault())
	}
	return p, p, nil
}
