package otlp

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	"google.golang.org/protobuf/proto"
)

// fastRetry makes the backoff short enough for tests.
var fastRetry = retryPolicy{initial: 10 * time.Millisecond, maxDelay: 40 * time.Millisecond, budget: 5 * time.Second}

// scripted answers the receiver's requests in turn with these statuses
// (200 once they run out) and Retry-After headers.
func (r *receiver) script(t *testing.T, answers ...func(w http.ResponseWriter) bool) {
	var mu sync.Mutex
	inner := r.srv.Config.Handler
	r.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		var a func(http.ResponseWriter) bool
		if len(answers) > 0 {
			a, answers = answers[0], answers[1:]
		}
		mu.Unlock()
		r.mu.Lock()
		r.times = append(r.times, time.Now())
		r.mu.Unlock()
		if a != nil && a(w) {
			r.mu.Lock()
			r.refused++
			r.mu.Unlock()
			return
		}
		inner.ServeHTTP(w, req)
	})
}

func status(code int, retryAfter string) func(http.ResponseWriter) bool {
	return func(w http.ResponseWriter) bool {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(code)
		return true
	}
}

func (r *receiver) counts() (accepted, refused int, times []time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reqs), r.refused, append([]time.Time(nil), r.times...)
}

func start(t *testing.T, g prometheus.Gatherer, o Options) *Pusher {
	t.Helper()
	if o.Interval == 0 {
		o.Interval = time.Hour
	}
	p, err := Start(context.Background(), g, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
	})
	return p
}

// TestRetry: 429, 502, 503 and 504 are retried (with backoff, or after
// the collector's Retry-After) until the push goes through; other
// statuses are not retried; a collector refusing past the retry budget
// gives an error, not an endless loop.
func TestRetry(t *testing.T) {
	for _, c := range []struct {
		name     string
		answers  []func(http.ResponseWriter) bool
		budget   time.Duration
		wantErr  string // "" the push succeeds
		requests int    // requests the collector sees in all
		minGap   time.Duration
	}{
		{"503 twice then ok", []func(http.ResponseWriter) bool{status(503, ""), status(503, "")}, 0, "", 3, 0},
		{"502 and 504", []func(http.ResponseWriter) bool{status(502, ""), status(504, "")}, 0, "", 3, 0},
		{"429 with Retry-After 1", []func(http.ResponseWriter) bool{status(429, "1")}, 0, "", 2, 900 * time.Millisecond},
		{"503 with an HTTP-date Retry-After", []func(http.ResponseWriter) bool{func(w http.ResponseWriter) bool {
			return status(503, time.Now().Add(3*time.Second).UTC().Format(http.TimeFormat))(w)
		}}, 0, "", 2, 1500 * time.Millisecond},
		{"400 not retried", []func(http.ResponseWriter) bool{status(400, "")}, 0, "400 Bad Request", 1, 0},
		{"413 not retried", []func(http.ResponseWriter) bool{status(413, "")}, 0, "413", 1, 0},
		{"Retry-After past the budget", []func(http.ResponseWriter) bool{status(429, "30")}, time.Second, "retry budget", 1, 0},
		{"503 until the budget runs out", func() (a []func(http.ResponseWriter) bool) {
			for range 100 {
				a = append(a, status(503, ""))
			}
			return a
		}(), 300 * time.Millisecond, "503 Service Unavailable", -1, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			rcv := newReceiver(t)
			rcv.script(t, c.answers...)
			r := fastRetry
			if c.budget != 0 {
				r.budget = c.budget
			}
			p := start(t, registry(t), Options{Endpoint: rcv.srv.URL + "/v1/metrics", retry: r})
			t0 := time.Now()
			err := p.Flush(context.Background())
			if took := time.Since(t0); took > 4*time.Second {
				t.Errorf("Flush took %v", took)
			}
			if (err == nil) != (c.wantErr == "") || (err != nil && !strings.Contains(err.Error(), c.wantErr)) {
				t.Fatalf("Flush = %v, want error %q", err, c.wantErr)
			}
			acc, ref, times := rcv.counts()
			if c.requests >= 0 && acc+ref != c.requests {
				t.Errorf("the collector saw %d requests (%d refused), want %d", acc+ref, ref, c.requests)
			}
			if c.requests < 0 && ref < 3 {
				t.Errorf("only %d tries before giving up", ref)
			}
			if c.wantErr == "" && acc != 1 {
				t.Errorf("%d requests accepted, want 1", acc)
			}
			if c.minGap > 0 && (len(times) < 2 || times[1].Sub(times[0]) < c.minGap) {
				t.Errorf("retried before the Retry-After: request times %v", times)
			}
		})
	}
}

func TestRetryAfterParse(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for h, want := range map[string]time.Duration{
		"":     0,
		"7":    7 * time.Second,
		"-1":   0,
		"soon": 0,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Hour).Format(http.TimeFormat):       time.Millisecond,
	} {
		if got := retryAfter(h, now); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", h, got, want)
		}
	}
}

// TestGzipHeadersUserAgent: with Gzip the body is gzip and says so; the
// headers from the config and a User-Agent naming the agent go along.
func TestGzipHeadersUserAgent(t *testing.T) {
	rcv := newReceiver(t)
	p := start(t, registry(t), Options{Endpoint: rcv.srv.URL + "/v1/metrics", Gzip: true,
		Headers: map[string]string{"X-Scope-OrgID": "tenant1"}, ServiceName: "virtwatt-host", ServiceVersion: "9.9"})
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	req, hdr, _ := rcv.last(t)
	if hdr.Get("Content-Encoding") != "gzip" || hdr.Get("X-Scope-OrgID") != "tenant1" || hdr.Get("User-Agent") != "virtwatt-host/9.9" {
		t.Errorf("headers %v", hdr)
	}
	if n := len(req.GetResourceMetrics()[0].GetScopeMetrics()[0].GetMetrics()); n != 4 {
		t.Errorf("%d metrics in the gzip request, want 4", n)
	}
}

// TestEndpointWithoutPath: http://collector:4318 posts to /v1/metrics.
func TestEndpointWithoutPath(t *testing.T) {
	for _, ep := range []string{"", "/", "/custom/path"} {
		rcv := newReceiver(t)
		p := start(t, registry(t), Options{Endpoint: rcv.srv.URL + ep})
		if err := p.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		want := ep
		if ep == "" || ep == "/" {
			want = DefaultPath
		}
		if _, _, path := rcv.last(t); path != want {
			t.Errorf("endpoint %q: posted to %q, want %q", rcv.srv.URL+ep, path, want)
		}
	}
}

// TestPartialSuccess: points the collector reports rejecting make Flush
// fail with its count and reason, and are logged once.
func TestPartialSuccess(t *testing.T) {
	rcv := newReceiver(t)
	rcv.script(t, func(w http.ResponseWriter) bool {
		b, _ := proto.Marshal(&colmetrics.ExportMetricsServiceResponse{PartialSuccess: &colmetrics.ExportMetricsPartialSuccess{
			RejectedDataPoints: 3, ErrorMessage: "unit not allowed"}})
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(b)
		return true
	})
	var logs logBuffer
	p := start(t, registry(t), Options{Endpoint: rcv.srv.URL, Logger: logs.logger()})
	err := p.Flush(context.Background())
	if err == nil || !strings.Contains(err.Error(), "rejected 3 points: unit not allowed") {
		t.Fatalf("Flush = %v, want the 3 rejected points", err)
	}
	if err := p.Flush(context.Background()); err != nil {
		t.Fatalf("second Flush (a full success) = %v", err)
	}
	if got := logs.String(); strings.Count(got, "rejected points") != 1 || !strings.Contains(got, "pushes resumed") {
		t.Errorf("logs:\n%s", got)
	}
}

// TestFailuresLoggedOnce: a collector refusing every push is logged once,
// not once per push, and its return once.
func TestFailuresLoggedOnce(t *testing.T) {
	rcv := newReceiver(t)
	rcv.script(t, status(400, ""), status(400, ""), status(400, ""))
	var logs logBuffer
	p := start(t, registry(t), Options{Endpoint: rcv.srv.URL + "/v1/metrics", Logger: logs.logger()})
	for range 3 {
		if p.Flush(context.Background()) == nil {
			t.Fatal("Flush to a collector answering 400: no error")
		}
	}
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := logs.String()
	if strings.Count(got, "push failed") != 1 || strings.Count(got, "pushes resumed") != 1 || !strings.Contains(got, "failed_or_dropped=3") {
		t.Errorf("want one failure and one resume line, got:\n%s", got)
	}
}

// TestQueueBounded: while the collector hangs, pushes queue up to
// QueueBatches and the oldest are dropped; queueing never waits on the
// collector; Shutdown ends within its deadline.
func TestQueueBounded(t *testing.T) {
	rcv := newReceiver(t)
	release := make(chan struct{})
	var once sync.Once
	rcv.script(t, func(w http.ResponseWriter) bool {
		<-release
		return false
	})
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	p := start(t, registry(t), Options{Endpoint: rcv.srv.URL + "/v1/metrics", Timeout: 30 * time.Second})
	// The first push is in flight (and hangs); then 2×QueueBatches more.
	first := make(chan error, 1)
	go func() { first <- p.Flush(context.Background()) }()
	waitFor(t, func() bool { _, _, times := rcv.counts(); return len(times) == 1 })
	var dones []chan error
	t0 := time.Now()
	for range 2 * QueueBatches {
		b, err := p.collect()
		if err != nil {
			t.Fatal(err)
		}
		b.done = make(chan error, 1)
		if !p.enqueue(b) {
			t.Fatal("enqueue refused")
		}
		dones = append(dones, b.done)
	}
	if d := time.Since(t0); d > time.Second {
		t.Errorf("queueing %d pushes behind a hung collector took %v", 2*QueueBatches, d)
	}
	p.mu.Lock()
	n := len(p.queue)
	p.mu.Unlock()
	if n != QueueBatches {
		t.Errorf("%d pushes queued, want the bound %d", n, QueueBatches)
	}
	for i, d := range dones[:QueueBatches] {
		select {
		case err := <-d:
			if err != errDropped {
				t.Errorf("oldest push %d: %v, want dropped", i, err)
			}
		default:
			t.Errorf("oldest push %d not dropped", i)
		}
	}
	once.Do(func() { close(release) })
	if err := <-first; err != nil {
		t.Fatalf("the hung push, released: %v", err)
	}
	for i, d := range dones[QueueBatches:] {
		if err := <-d; err != nil {
			t.Errorf("queued push %d: %v", i, err)
		}
	}
	if acc, _, _ := rcv.counts(); acc != 1+QueueBatches {
		t.Errorf("collector got %d pushes, want %d", acc, 1+QueueBatches)
	}
}

// TestQueueBytes: one request bigger than QueueBytes is still sent, and
// a byte bound drops older requests.
func TestQueueBytes(t *testing.T) {
	p := &Pusher{wake: make(chan struct{}, 1), log: slog.New(slog.DiscardHandler)}
	small := &batch{body: make([]byte, 10), done: make(chan error, 1)}
	p.enqueue(small)
	big := &batch{body: make([]byte, QueueBytes)}
	p.enqueue(big)
	if len(p.queue) != 1 || p.queue[0] != big || p.queued != QueueBytes {
		t.Fatalf("queue %d requests, %d bytes", len(p.queue), p.queued)
	}
	if err := <-small.done; err != errDropped {
		t.Fatalf("small: %v", err)
	}
}

// TestShutdownHungCollector: Shutdown ends at its deadline when the last
// push hangs, and stops the goroutines.
func TestShutdownHungCollector(t *testing.T) {
	rcv := newReceiver(t)
	release := make(chan struct{})
	rcv.script(t, func(w http.ResponseWriter) bool { <-release; return true })
	defer close(release)
	p, err := Start(context.Background(), registry(t), Options{Endpoint: rcv.srv.URL, Interval: time.Hour, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	if err := p.Shutdown(ctx); err == nil {
		t.Error("Shutdown with a hung collector: no error")
	}
	if d := time.Since(t0); d > 2*time.Second {
		t.Errorf("Shutdown took %v", d)
	}
	if err := p.Flush(context.Background()); err == nil {
		t.Error("Flush after Shutdown: no error")
	}
}

// TestManySeries: thousands of series with long labels (multi-byte
// lengths at every level) decode to the same names and values.
func TestManySeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "virtwatt_domain_power_watts", Help: strings.Repeat("h", 300)}, []string{"domain", "uuid"})
	reg.MustRegister(g)
	for i := range 3000 {
		g.WithLabelValues(fmt.Sprintf("vm-%04d-%s", i, strings.Repeat("x", 200)), fmt.Sprint(i)).Set(float64(i))
	}
	rcv := newReceiver(t)
	p := start(t, reg, Options{Endpoint: rcv.srv.URL})
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	req, _, _ := rcv.last(t)
	m := req.GetResourceMetrics()[0].GetScopeMetrics()[0].GetMetrics()[0]
	if m.GetDescription() != strings.Repeat("h", 300) || len(m.GetGauge().GetDataPoints()) != 3000 {
		t.Fatalf("metric %s: %d points", m.GetName(), len(m.GetGauge().GetDataPoints()))
	}
	seen := 0
	for _, dp := range m.GetGauge().GetDataPoints() {
		a := attrMap(dp.GetAttributes())
		if dp.Value == nil || a["uuid"] != fmt.Sprint(dp.GetAsDouble()) || !strings.HasPrefix(a["domain"], "vm-") {
			t.Fatalf("point %v", dp)
		}
		seen++
	}
	if seen != 3000 {
		t.Errorf("%d points", seen)
	}
}

func TestGzipFromEnv(t *testing.T) {
	for _, c := range []struct {
		env     map[string]string
		want    bool
		wantErr string
	}{
		{nil, false, ""},
		{map[string]string{"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"}, true, ""},
		{map[string]string{"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip", "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION": "none"}, false, ""},
		{map[string]string{"OTEL_EXPORTER_OTLP_METRICS_COMPRESSION": "GZIP"}, true, ""},
		{map[string]string{"OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"}, false, "OTEL_EXPORTER_OTLP_COMPRESSION"},
	} {
		got, err := gzipFromEnv(func(k string) (string, bool) { v, ok := c.env[k]; return v, ok })
		if got != c.want || (err == nil) != (c.wantErr == "") || (err != nil && !strings.Contains(err.Error(), c.wantErr)) {
			t.Errorf("env %v: %v, %v; want %v, %q", c.env, got, err, c.want, c.wantErr)
		}
	}
}

// logBuffer collects a logger's lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
