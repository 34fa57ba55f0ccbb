// Package otlp pushes an agent's Prometheus metrics to an OpenTelemetry
// collector over OTLP/HTTP: the ExportMetricsServiceRequest is encoded by
// hand in the protobuf wire format (wire.go, convert.go) and POSTed as
// application/x-protobuf, so neither the OTel SDK nor gRPC is linked in.
// It is off unless an endpoint is given.
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
//
// Pushing never blocks the agent's loop: a collection goroutine reads the
// registry each interval and queues the encoded request; a sender
// goroutine posts the queue in order, retrying 429, 502, 503, 504 and
// transport errors with backoff (or the collector's Retry-After) for up to
// a minute. The queue is bounded (QueueBatches requests, QueueBytes
// bytes): when the collector cannot keep up the oldest request is dropped
// — every point is cumulative or a gauge, so a newer one supersedes it.
// A collector that is down costs retries and dropped pushes, never a
// measurement; failures are logged once, and again when pushes resume.
package otlp

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults.
const (
	DefaultInterval = 60 * time.Second
	DefaultTimeout  = 10 * time.Second
	MinInterval     = time.Second
	// QueueBatches and QueueBytes bound the requests waiting to be sent.
	QueueBatches = 4
	QueueBytes   = 4 << 20
	// DefaultPath is posted to when the endpoint has no path.
	DefaultPath = "/v1/metrics"
)

// Options configure the push. The zero value (no Endpoint) is off.
type Options struct {
	// Endpoint is the collector's OTLP/HTTP metrics URL, e.g.
	// http://collector:4318/v1/metrics (--otlp.endpoint); "" is off. With
	// no path, DefaultPath is used.
	Endpoint string
	// Headers are sent with every request (--otlp.header NAME=VALUE),
	// e.g. an authorization token.
	Headers map[string]string
	// Interval between pushes (--otlp.interval); DefaultInterval when 0.
	Interval time.Duration
	// Timeout of one request; DefaultTimeout when 0.
	Timeout time.Duration
	// Gzip compresses each request (Content-Encoding: gzip).
	Gzip bool

	// ServiceName is the service.name resource attribute (virtwatt-host,
	// virtwatt-guest); Attributes are more resource attributes (host.name...).
	ServiceName    string
	ServiceVersion string
	Attributes     map[string]string

	Logger *slog.Logger

	retry retryPolicy // defaultRetry when zero; tests shorten it
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

// batch is one encoded request; done, when set, gets its outcome.
type batch struct {
	body []byte
	done chan error
}

var errDropped = errors.New("otlp: push dropped: the queue was full (collector slow or down)")

// Pusher pushes the registry's metrics every interval until Shutdown.
type Pusher struct {
	g     prometheus.Gatherer
	o     Options
	res   resource
	start time.Time
	exp   exporter
	log   *slog.Logger

	encMu sync.Mutex // one collection at a time (the gzip writer, the scratch buffer)
	zw    *gzip.Writer
	zbuf  bytes.Buffer

	mu      sync.Mutex
	queue   []*batch
	queued  int // bytes in queue
	stopped bool
	failing bool // the last push failed (logged once)
	failed  int  // pushes failed or dropped since the last success
	wake    chan struct{}

	stopCollect chan struct{}
	ctx         context.Context // the sender's; cancelled when Shutdown ends
	cancel      context.CancelFunc
	wg          sync.WaitGroup
	once        sync.Once
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
	o.Interval = cmp.Or(o.Interval, DefaultInterval)
	o.Timeout = cmp.Or(o.Timeout, DefaultTimeout)
	if o.retry == (retryPolicy{}) {
		o.retry = defaultRetry
	}
	u, _ := url.Parse(o.Endpoint) // checked by Validate
	if u.Path == "" || u.Path == "/" {
		u.Path = DefaultPath
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 1, 1
	ua := "virtwatt"
	if o.ServiceName != "" {
		ua = o.ServiceName + "/" + cmp.Or(o.ServiceVersion, "unknown")
	}
	p := &Pusher{
		g: g, o: o, res: newResource(o), start: time.Now(), log: o.Logger,
		exp: exporter{client: &http.Client{Transport: tr, Timeout: o.Timeout}, url: u.String(),
			headers: o.Headers, userAgent: ua, gzip: o.Gzip, retry: o.retry},
		wake: make(chan struct{}, 1), stopCollect: make(chan struct{}),
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.ctx, p.cancel = context.WithCancel(context.WithoutCancel(ctx))
	p.wg.Add(2)
	go p.collectLoop()
	go p.sendLoop()
	return p, nil
}

// Flush pushes now and returns the push's outcome (or ctx's error).
func (p *Pusher) Flush(ctx context.Context) error {
	b, err := p.collect()
	if err != nil {
		return err
	}
	b.done = make(chan error, 1)
	if !p.enqueue(b) {
		return errors.New("otlp: pusher stopped")
	}
	select {
	case err := <-b.done:
		return err
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// Shutdown pushes a last time and stops, within ctx.
func (p *Pusher) Shutdown(ctx context.Context) error {
	var err error
	p.once.Do(func() {
		close(p.stopCollect)
		err = p.Flush(ctx)
		p.mu.Lock()
		p.stopped = true
		p.mu.Unlock()
		p.cancel() // ends a retry still waiting
		p.wg.Wait()
	})
	return err
}

func (p *Pusher) collectLoop() {
	defer p.wg.Done()
	t := time.NewTicker(p.o.Interval)
	defer t.Stop()
	for {
		select {
		case <-p.stopCollect:
			return
		case <-t.C:
			if b, err := p.collect(); err != nil {
				p.outcome(err, 0, "")
			} else {
				p.enqueue(b)
			}
		}
	}
}

// collect reads the registry and encodes one request.
func (p *Pusher) collect() (*batch, error) {
	fams, err := p.g.Gather()
	if err != nil && len(fams) == 0 {
		return nil, fmt.Errorf("otlp: gathering metrics: %w", err)
	}
	p.encMu.Lock()
	defer p.encMu.Unlock()
	body, _ := encodeRequest(nil, &p.res, fams, p.start, time.Now())
	if p.o.Gzip {
		p.zbuf.Reset()
		if p.zw == nil {
			p.zw = gzip.NewWriter(&p.zbuf)
		} else {
			p.zw.Reset(&p.zbuf)
		}
		_, _ = p.zw.Write(body) // a bytes.Buffer does not fail
		_ = p.zw.Close()
		body = bytes.Clone(p.zbuf.Bytes())
	}
	return &batch{body: body}, nil
}

// enqueue adds b, dropping the oldest waiting requests to stay within
// QueueBatches and QueueBytes (b itself is always kept); false once stopped.
func (p *Pusher) enqueue(b *batch) bool {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return false
	}
	var dropped []*batch
	for len(p.queue) > 0 && (len(p.queue)+1 > QueueBatches || p.queued+len(b.body) > QueueBytes) {
		dropped = append(dropped, p.queue[0])
		p.queued -= len(p.queue[0].body)
		p.queue[0] = nil
		p.queue = p.queue[1:]
	}
	p.queue = append(p.queue, b)
	p.queued += len(b.body)
	p.mu.Unlock()
	for _, d := range dropped {
		p.outcome(errDropped, 0, "")
		if d.done != nil {
			d.done <- errDropped
		}
	}
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return true
}

func (p *Pusher) next() *batch {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.queue) == 0 {
		return nil
	}
	b := p.queue[0]
	p.queue[0] = nil
	p.queue = p.queue[1:]
	p.queued -= len(b.body)
	return b
}

func (p *Pusher) sendLoop() {
	defer p.wg.Done()
	for {
		for b := p.next(); b != nil; b = p.next() {
			rejected, msg, err := p.exp.export(p.ctx, b.body)
			p.outcome(err, rejected, msg)
			if err == nil && rejected > 0 {
				err = fmt.Errorf("otlp: the collector rejected %d points: %s", rejected, msg)
			}
			if b.done != nil {
				b.done <- err
			}
		}
		select {
		case <-p.ctx.Done():
			p.mu.Lock()
			rest := p.queue
			p.queue, p.queued = nil, 0
			p.mu.Unlock()
			for _, b := range rest {
				if b.done != nil {
					b.done <- errors.New("otlp: pusher stopped before this push was sent")
				}
			}
			return
		case <-p.wake:
		}
	}
}

// outcome logs the first failure of a run of them, and the success that
// ends it, with the count in between: once, not once per push.
func (p *Pusher) outcome(err error, rejected int64, msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case err != nil:
		if !p.failing {
			p.log.Warn("otlp: push failed; will keep trying each interval", "endpoint", p.exp.url, "err", err)
		}
		p.failing = true
		p.failed++
	case rejected > 0:
		if !p.failing {
			p.log.Warn("otlp: the collector rejected points", "endpoint", p.exp.url, "rejected", rejected, "reason", msg)
		}
		p.failing = true
		p.failed++
	case p.failing:
		p.log.Info("otlp: pushes resumed", "endpoint", p.exp.url, "failed_or_dropped", p.failed)
		p.failing, p.failed = false, 0
	}
}
