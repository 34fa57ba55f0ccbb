// Package otlp pushes an agent's Prometheus metrics to an OpenTelemetry
// collector over OTLP/HTTP with the official Go SDK (sdk/metric and the
// otlpmetrichttp exporter). It is off unless an endpoint is given.
//
// The metrics pushed are the ones the agent serves on /metrics (the
// virtwatt_* families; the Go and process collectors are left out), read
// from the same registry at each interval, so the two never disagree.
// Names and units follow OpenTelemetry's conventions and map back to the
// Prometheus names: a counter loses its _total suffix (OTel's Prometheus
// exporters add it back), and the unit is the UCUM unit of the name's
// unit suffix (virtwatt_vm_energy_joules_total → virtwatt_vm_energy_joules,
// unit "J"). Counters are cumulative monotonic sums, gauges gauges,
// histograms explicit-bucket histograms; labels become attributes.
// Pushing never blocks the agent's loop: it runs on the SDK's own
// goroutine, and a collector that is down costs retries, not measurements.
package otlp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
)

// Defaults.
const (
	DefaultInterval = 60 * time.Second
	DefaultTimeout  = 10 * time.Second
	MinInterval     = time.Second
)

// Options configure the push. The zero value (no Endpoint) is off.
type Options struct {
	// Endpoint is the collector's OTLP/HTTP metrics URL, e.g.
	// http://collector:4318/v1/metrics (--otlp.endpoint); "" is off.
	Endpoint string
	// Headers are sent with every request (--otlp.header NAME=VALUE),
	// e.g. an authorization token.
	Headers map[string]string
	// Interval between pushes (--otlp.interval); DefaultInterval when 0.
	Interval time.Duration
	// Timeout of one push; DefaultTimeout when 0.
	Timeout time.Duration

	// ServiceName is the service.name resource attribute (virtwatt-host,
	// virtwatt-guest); Attributes are more resource attributes (host.name...).
	ServiceName    string
	ServiceVersion string
	Attributes     map[string]string

	Logger *slog.Logger
}

// Enabled reports whether an endpoint was given.
func (o Options) Enabled() bool { return o.Endpoint != "" }

// Validate checks the options of an enabled push, naming the flag to fix.
func (o Options) Validate() error {
	if !o.Enabled() {
		return nil
	}
	var errs []error
	u, err := url.Parse(o.Endpoint)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("--otlp.endpoint %q: %v", o.Endpoint, err))
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		errs = append(errs, fmt.Errorf("--otlp.endpoint %q: want an http:// or https:// URL such as http://collector:4318/v1/metrics", o.Endpoint))
	}
	for k := range o.Headers {
		if k == "" || strings.ContainsAny(k, " \t\r\n:") {
			errs = append(errs, fmt.Errorf("--otlp.header %q: not a header name (want NAME=VALUE)", k))
		}
	}
	if o.Interval != 0 && o.Interval < MinInterval {
		errs = append(errs, fmt.Errorf("--otlp.interval %v: below the minimum %v", o.Interval, MinInterval))
	}
	if o.Timeout < 0 {
		errs = append(errs, fmt.Errorf("otlp timeout %v is negative", o.Timeout))
	}
	return errors.Join(errs...)
}

// ParseHeaders parses NAME=VALUE pairs (repeated --otlp.header flags, or
// comma-separated as in OTEL_EXPORTER_OTLP_HEADERS).
func ParseHeaders(pairs []string) (map[string]string, error) {
	h := map[string]string{}
	for _, p := range pairs {
		for _, kv := range strings.Split(p, ",") {
			if strings.TrimSpace(kv) == "" {
				continue
			}
			k, v, ok := strings.Cut(kv, "=")
			k = strings.TrimSpace(k)
			if !ok || k == "" || strings.ContainsAny(k, " \t\r\n:") {
				return nil, fmt.Errorf("--otlp.header %q: want NAME=VALUE", kv)
			}
			h[k] = strings.TrimSpace(v)
		}
	}
	return h, nil
}

// Pusher pushes the registry's metrics every interval until Shutdown.
type Pusher struct {
	provider *sdkmetric.MeterProvider
}

// Start begins pushing g's virtwatt_* metrics as o says. The first push
// happens after one interval; Shutdown pushes a last time.
func Start(ctx context.Context, g prometheus.Gatherer, o Options) (*Pusher, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if !o.Enabled() {
		return nil, errors.New("otlp: no endpoint (--otlp.endpoint)")
	}
	if o.Interval == 0 {
		o.Interval = DefaultInterval
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	opts := []otlpmetrichttp.Option{
		otlpmetrichttp.WithEndpointURL(o.Endpoint),
		otlpmetrichttp.WithTimeout(o.Timeout),
	}
	if len(o.Headers) > 0 {
		opts = append(opts, otlpmetrichttp.WithHeaders(o.Headers))
	}
	exp, err := otlpmetrichttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("otlp: exporter for %s: %w", o.Endpoint, err)
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", o.ServiceName)}
	if o.ServiceVersion != "" {
		attrs = append(attrs, attribute.String("service.version", o.ServiceVersion))
	}
	for k, v := range o.Attributes {
		attrs = append(attrs, attribute.String(k, v))
	}
	reader := sdkmetric.NewPeriodicReader(exp,
		sdkmetric.WithInterval(o.Interval),
		sdkmetric.WithTimeout(o.Timeout),
		sdkmetric.WithProducer(&producer{g: g, start: time.Now(), scope: o.ServiceName, version: o.ServiceVersion, log: o.Logger}))
	mp := sdkmetric.NewMeterProvider(
		sdkmetric.WithReader(reader),
		sdkmetric.WithResource(resource.NewSchemaless(attrs...)))
	return &Pusher{provider: mp}, nil
}

// Flush pushes now.
func (p *Pusher) Flush(ctx context.Context) error { return p.provider.ForceFlush(ctx) }

// Shutdown pushes a last time and stops.
func (p *Pusher) Shutdown(ctx context.Context) error { return p.provider.Shutdown(ctx) }
