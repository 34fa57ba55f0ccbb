package otlp

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config is the command-line and TOML shape of Options, the same on both
// agents: flags --otlp.endpoint, --otlp.header (repeatable), --otlp.interval;
// TOML table [otlp] with endpoint, headers, interval.
type Config struct {
	Endpoint string        `toml:"endpoint"`
	Headers  []string      `toml:"headers"` // NAME=VALUE
	Interval time.Duration `toml:"interval"`
}

// headerList is a repeatable flag.
type headerList struct{ h *[]string }

func (l headerList) String() string {
	if l.h == nil {
		return ""
	}
	return strings.Join(*l.h, ",")
}

func (l headerList) Set(s string) error {
	if _, err := ParseHeaders([]string{s}); err != nil {
		return err
	}
	*l.h = append(*l.h, s)
	return nil
}

// RegisterFlags binds c to fs's --otlp.* flags, c's values as defaults.
func RegisterFlags(fs *flag.FlagSet, c *Config) {
	fs.StringVar(&c.Endpoint, "otlp.endpoint", c.Endpoint, "push metrics over OTLP/HTTP to this collector `URL` (e.g. http://collector:4318/v1/metrics); off when empty")
	fs.Var(headerList{&c.Headers}, "otlp.header", "`NAME=VALUE` header sent with each OTLP push (repeatable)")
	fs.DurationVar(&c.Interval, "otlp.interval", c.Interval, "interval between OTLP pushes (default 1m)")
}

// Options returns the push options for service, validated.
func (c Config) Options(service, version string) (Options, error) {
	h, err := ParseHeaders(c.Headers)
	if err != nil {
		return Options{}, err
	}
	o := Options{Endpoint: c.Endpoint, Headers: h, Interval: c.Interval, ServiceName: service, ServiceVersion: version}
	if err := o.Validate(); err != nil {
		return Options{}, fmt.Errorf("otlp: %w", err)
	}
	return o, nil
}

// gzipFromEnv reads the compression the OTel SDK's exporter read (and so
// these agents did before they encoded OTLP themselves):
// OTEL_EXPORTER_OTLP_METRICS_COMPRESSION, else OTEL_EXPORTER_OTLP_COMPRESSION,
// "gzip" or "none" (the default).
func gzipFromEnv(lookup func(string) (string, bool)) (bool, error) {
	for _, k := range []string{"OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION"} {
		v, ok := lookup(k)
		if !ok {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "gzip":
			return true, nil
		case "none", "":
			return false, nil
		}
		return false, fmt.Errorf("otlp: %s=%q: want gzip or none", k, v)
	}
	return false, nil
}

// Run starts pushing g's metrics when c has an endpoint and returns the
// function that stops it (a last push, bounded by the timeout); with no
// endpoint it does nothing and returns a no-op. Both agents call it once.
func Run(ctx context.Context, g prometheus.Gatherer, c Config, service, version string, log *slog.Logger) (stop func(), err error) {
	if c.Endpoint == "" {
		return func() {}, nil
	}
	o, err := c.Options(service, version)
	if err != nil {
		return nil, err
	}
	if o.Gzip, err = gzipFromEnv(os.LookupEnv); err != nil {
		return nil, err
	}
	o.Logger = log
	p, err := Start(ctx, g, o)
	if err != nil {
		return nil, err
	}
	if log != nil {
		log.Info("pushing metrics over OTLP/HTTP", "endpoint", o.Endpoint, "interval", cmp.Or(o.Interval, DefaultInterval))
	}
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultTimeout)
		defer cancel()
		if err := p.Shutdown(sctx); err != nil && log != nil {
			log.Warn("otlp: last push failed", "endpoint", o.Endpoint, "err", err)
		}
	}, nil
}
