package otlp

import (
	"compress/gzip"
	"context"
	"flag"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/protobuf/proto"
)

// receiver is an OTLP/HTTP metrics endpoint that decodes every request
// with the official OTLP protobuf package.
type receiver struct {
	srv    *httptest.Server
	status int // answered; 200 when 0

	mu      sync.Mutex
	reqs    []*colmetrics.ExportMetricsServiceRequest
	headers []http.Header
	paths   []string
	times   []time.Time // of every request, refused ones too (script)
	refused int         // answered by a script, not decoded
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var body io.Reader = req.Body
		if req.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(req.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		b, err := io.ReadAll(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if ct := req.Header.Get("Content-Type"); ct != "application/x-protobuf" {
			t.Errorf("Content-Type %q, want application/x-protobuf", ct)
		}
		var m colmetrics.ExportMetricsServiceRequest
		if err := proto.Unmarshal(b, &m); err != nil {
			t.Errorf("undecodable OTLP request: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.reqs = append(r.reqs, &m)
		r.headers = append(r.headers, req.Header.Clone())
		r.paths = append(r.paths, req.URL.Path)
		status := r.status
		r.mu.Unlock()
		if status != 0 {
			w.WriteHeader(status)
			return
		}
		out, _ := proto.Marshal(&colmetrics.ExportMetricsServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(out)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) last(t *testing.T) (*colmetrics.ExportMetricsServiceRequest, http.Header, string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reqs) == 0 {
		t.Fatal("the receiver got no request")
	}
	n := len(r.reqs) - 1
	return r.reqs[n], r.headers[n], r.paths[n]
}

func registry(t *testing.T) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	energy := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "virtwatt_vm_energy_joules_total", Help: "energy"}, []string{"zone"})
	energy.WithLabelValues("package").Add(12.5)
	energy.WithLabelValues("dram").Add(2.25)
	power := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "virtwatt_vm_power_watts", Help: "power"}, []string{"zone"})
	power.WithLabelValues("package").Set(40)
	pue := prometheus.NewGauge(prometheus.GaugeOpts{Name: "virtwatt_pue", Help: "pue"})
	pue.Set(1.2)
	bad := prometheus.NewGauge(prometheus.GaugeOpts{Name: "virtwatt_broken_watts", Help: "never pushed: NaN"})
	bad.Set(math.NaN())
	tick := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "virtwatt_tick_duration_seconds", Help: "tick",
		Buckets: []float64{0.01, 0.1, 1}})
	for _, v := range []float64{0.005, 0.05, 0.06, 0.5, 2} {
		tick.Observe(v)
	}
	reg.MustRegister(energy, power, pue, bad, tick, collectors.NewGoCollector())
	return reg
}

func attrMap(kvs []*commonpb.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		m[kv.GetKey()] = kv.GetValue().GetStringValue()
	}
	return m
}

// TestPushNamesUnitsAttributesValues: one push, decoded with the OTLP
// protobuf package: OTel names and units, the labels as attributes, the
// values, counters as cumulative monotonic sums, the histogram's buckets,
// the headers, the resource; nothing but virtwatt_* and no NaN.
func TestPushNamesUnitsAttributesValues(t *testing.T) {
	rcv := newReceiver(t)
	ctx := context.Background()
	p, err := Start(ctx, registry(t), Options{
		Endpoint: rcv.srv.URL + "/v1/metrics", Headers: map[string]string{"Authorization": "Bearer s3cret"},
		Interval: time.Hour, ServiceName: "virtwatt-guest", ServiceVersion: "1.2.3",
		Attributes: map[string]string{"host.name": "vm1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	req, hdr, path := rcv.last(t)
	if path != "/v1/metrics" || hdr.Get("Authorization") != "Bearer s3cret" {
		t.Errorf("path %q, Authorization %q", path, hdr.Get("Authorization"))
	}
	if len(req.GetResourceMetrics()) != 1 {
		t.Fatalf("%d resources", len(req.GetResourceMetrics()))
	}
	rm := req.GetResourceMetrics()[0]
	res := attrMap(rm.GetResource().GetAttributes())
	if res["service.name"] != "virtwatt-guest" || res["service.version"] != "1.2.3" || res["host.name"] != "vm1" {
		t.Errorf("resource attributes %v", res)
	}
	got := map[string]*metricspb.Metric{}
	for _, sm := range rm.GetScopeMetrics() {
		for _, m := range sm.GetMetrics() {
			got[m.GetName()] = m
		}
	}
	var names []string
	for n := range got {
		names = append(names, n)
	}
	slices.Sort(names)
	if want := []string{"virtwatt_pue", "virtwatt_tick_duration_seconds", "virtwatt_vm_energy_joules", "virtwatt_vm_power_watts"}; !slices.Equal(names, want) {
		t.Fatalf("metrics pushed %v, want %v (no Go runtime metrics, no NaN)", names, want)
	}

	e := got["virtwatt_vm_energy_joules"]
	if e.GetUnit() != "J" || e.GetDescription() != "energy" {
		t.Errorf("energy unit %q description %q", e.GetUnit(), e.GetDescription())
	}
	sum := e.GetSum()
	if sum == nil || !sum.GetIsMonotonic() || sum.GetAggregationTemporality() != metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE {
		t.Fatalf("energy is not a cumulative monotonic sum: %v", e)
	}
	vals := map[string]float64{}
	for _, dp := range sum.GetDataPoints() {
		vals[attrMap(dp.GetAttributes())["zone"]] = dp.GetAsDouble()
		if dp.GetStartTimeUnixNano() == 0 || dp.GetTimeUnixNano() < dp.GetStartTimeUnixNano() {
			t.Errorf("energy point times start %d time %d", dp.GetStartTimeUnixNano(), dp.GetTimeUnixNano())
		}
	}
	if vals["package"] != 12.5 || vals["dram"] != 2.25 || len(vals) != 2 {
		t.Errorf("energy points %v", vals)
	}

	pw := got["virtwatt_vm_power_watts"]
	if pw.GetUnit() != "W" || pw.GetGauge() == nil || len(pw.GetGauge().GetDataPoints()) != 1 {
		t.Fatalf("power %v", pw)
	}
	if dp := pw.GetGauge().GetDataPoints()[0]; dp.GetAsDouble() != 40 || attrMap(dp.GetAttributes())["zone"] != "package" {
		t.Errorf("power point %v", dp)
	}
	if u := got["virtwatt_pue"].GetUnit(); u != "1" {
		t.Errorf("pue unit %q, want 1", u)
	}

	h := got["virtwatt_tick_duration_seconds"]
	if h.GetUnit() != "s" || h.GetHistogram() == nil {
		t.Fatalf("tick %v", h)
	}
	hp := h.GetHistogram().GetDataPoints()[0]
	if !slices.Equal(hp.GetExplicitBounds(), []float64{0.01, 0.1, 1}) ||
		!slices.Equal(hp.GetBucketCounts(), []uint64{1, 2, 1, 1}) || hp.GetCount() != 5 || math.Abs(hp.GetSum()-2.615) > 1e-12 {
		t.Errorf("tick histogram bounds %v counts %v count %d sum %v", hp.GetExplicitBounds(), hp.GetBucketCounts(), hp.GetCount(), hp.GetSum())
	}
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestPushPeriodic: without Flush, a push comes every interval.
func TestPushPeriodic(t *testing.T) {
	rcv := newReceiver(t)
	p, err := Start(context.Background(), registry(t), Options{Endpoint: rcv.srv.URL + "/v1/metrics", Interval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	deadline := time.Now().Add(10 * time.Second)
	for {
		rcv.mu.Lock()
		n := len(rcv.reqs)
		rcv.mu.Unlock()
		if n >= 2 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d pushes in 10 s at a 1 s interval", n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestCollectorDown: a collector that refuses, or is gone, gives an
// error from Flush and a bounded Shutdown, never a hang or a panic.
func TestCollectorDown(t *testing.T) {
	rcv := newReceiver(t)
	rcv.status = http.StatusBadRequest // not retried
	p, err := Start(context.Background(), registry(t), Options{Endpoint: rcv.srv.URL + "/v1/metrics", Interval: time.Hour, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(context.Background()); err == nil {
		t.Error("Flush to a collector answering 400: no error")
	}
	rcv.srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	_ = p.Shutdown(ctx)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Shutdown with the collector gone took %v", d)
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		o    Options
		want string // "" valid
	}{
		{Options{}, ""},
		{Options{Endpoint: "http://c:4318/v1/metrics"}, ""},
		{Options{Endpoint: "c:4318"}, "--otlp.endpoint"},
		{Options{Endpoint: "ftp://c/v1/metrics"}, "--otlp.endpoint"},
		{Options{Endpoint: "http://c:4318/v1/metrics", Interval: time.Millisecond}, "--otlp.interval"},
		{Options{Endpoint: "http://c:4318/v1/metrics", Headers: map[string]string{"a b": "x"}}, "--otlp.header"},
	} {
		err := c.o.Validate()
		if (err == nil) != (c.want == "") || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("Validate(%+v) = %v, want %q", c.o, err, c.want)
		}
	}
	if _, err := Start(context.Background(), prometheus.NewRegistry(), Options{}); err == nil {
		t.Error("Start without an endpoint: no error")
	}
}

func TestParseHeaders(t *testing.T) {
	h, err := ParseHeaders([]string{"Authorization=Bearer x=y", "a=1, b = 2"})
	if err != nil || h["Authorization"] != "Bearer x=y" || h["a"] != "1" || h["b"] != "2" || len(h) != 3 {
		t.Fatalf("ParseHeaders = %v, %v", h, err)
	}
	if _, err := ParseHeaders([]string{"novalue"}); err == nil || !strings.Contains(err.Error(), "--otlp.header") {
		t.Fatalf("err = %v", err)
	}
}

func TestUnit(t *testing.T) {
	for name, want := range map[string]string{
		"virtwatt_vm_energy_joules_total":              "J",
		"virtwatt_host_pending_energy_joules":          "J",
		"virtwatt_domain_power_watts":                  "W",
		"virtwatt_domain_cpu_seconds_total":            "s",
		"virtwatt_share_last_update_timestamp_seconds": "s",
		"virtwatt_vm_emissions_grams_total":            "g",
		"virtwatt_vm_water_liters_total":               "L",
		"virtwatt_carbon_intensity_grams_per_kwh":      "g/kW.h",
		"virtwatt_wue_liters_per_kwh":                  "L/kW.h",
		"virtwatt_errors_total":                        "1",
		"virtwatt_share_up":                            "1",
	} {
		if got := Unit(name); got != want {
			t.Errorf("Unit(%s) = %q, want %q", name, got, want)
		}
	}
}

func TestConfigFlags(t *testing.T) {
	var c Config
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	RegisterFlags(fs, &c)
	if err := fs.Parse([]string{"--otlp.endpoint", "https://c:4318/v1/metrics", "--otlp.header", "A=1", "--otlp.header", "B=2", "--otlp.interval", "15s"}); err != nil {
		t.Fatal(err)
	}
	o, err := c.Options("virtwatt-host", "v1")
	if err != nil {
		t.Fatal(err)
	}
	if o.Endpoint != "https://c:4318/v1/metrics" || o.Headers["A"] != "1" || o.Headers["B"] != "2" || o.Interval != 15*time.Second || o.ServiceName != "virtwatt-host" {
		t.Fatalf("options %+v", o)
	}
	if err := fs.Parse([]string{"--otlp.header", "broken"}); err == nil {
		t.Fatal("a header without = accepted")
	}
	if _, err := (Config{Endpoint: "collector:4318"}).Options("x", ""); err == nil || !strings.Contains(err.Error(), "--otlp.endpoint") {
		t.Fatalf("bad endpoint: %v", err)
	}
}
