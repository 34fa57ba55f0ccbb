package otlp

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// Prefix selects the families pushed.
const Prefix = "virtwatt_"

// units maps a Prometheus name's unit suffix (after _total is removed) to
// its UCUM unit, longest suffix first.
var units = []struct{ suffix, unit string }{
	{"_grams_per_kwh", "g/kW.h"},
	{"_liters_per_kwh", "L/kW.h"},
	{"_joules", "J"},
	{"_watts", "W"},
	{"_seconds", "s"},
	{"_grams", "g"},
	{"_liters", "L"},
	{"_ratio", "1"},
}

// Name and Unit map a Prometheus family to OTel's: counters lose _total,
// the unit comes from the unit suffix ("1" for none: info, up, counts).
func Name(promName string, t dto.MetricType) string {
	if t == dto.MetricType_COUNTER {
		return strings.TrimSuffix(promName, "_total")
	}
	return promName
}

// Unit is the UCUM unit of a Prometheus name (see Name).
func Unit(promName string) string {
	n := strings.TrimSuffix(promName, "_total")
	for _, u := range units {
		if strings.HasSuffix(n, u.suffix) {
			return u.unit
		}
	}
	return "1"
}

// Field numbers of the OTLP messages written, from opentelemetry-proto
// (collector/metrics/v1/metrics_service.proto, metrics/v1/metrics.proto,
// common/v1/common.proto, resource/v1/resource.proto).
const (
	fRequestResourceMetrics = 1 // ExportMetricsServiceRequest.resource_metrics

	fResourceMetricsResource     = 1 // ResourceMetrics.resource
	fResourceMetricsScopeMetrics = 2 // ResourceMetrics.scope_metrics
	fResourceAttributes          = 1 // Resource.attributes
	fScopeMetricsScope           = 1 // ScopeMetrics.scope
	fScopeMetricsMetrics         = 2 // ScopeMetrics.metrics
	fScopeName                   = 1 // InstrumentationScope.name
	fScopeVersion                = 2 // InstrumentationScope.version

	fMetricName        = 1 // Metric.name
	fMetricDescription = 2 // Metric.description
	fMetricUnit        = 3 // Metric.unit
	fMetricGauge       = 5 // Metric.gauge (oneof data)
	fMetricSum         = 7 // Metric.sum
	fMetricHistogram   = 9 // Metric.histogram

	fDataPoints    = 1 // Gauge, Sum, Histogram .data_points
	fTemporality   = 2 // Sum, Histogram .aggregation_temporality
	fSumMonotonic  = 3 // Sum.is_monotonic
	cumulative     = 2 // AGGREGATION_TEMPORALITY_CUMULATIVE
	fPointStart    = 2 // NumberDataPoint, HistogramDataPoint .start_time_unix_nano
	fPointTime     = 3 // .time_unix_nano
	fNumberDouble  = 4 // NumberDataPoint.as_double (oneof value)
	fNumberAttrs   = 7 // NumberDataPoint.attributes
	fHistCount     = 4 // HistogramDataPoint.count
	fHistSum       = 5 // HistogramDataPoint.sum (optional)
	fHistBuckets   = 6 // HistogramDataPoint.bucket_counts (packed)
	fHistBounds    = 7 // HistogramDataPoint.explicit_bounds (packed)
	fHistAttrs     = 9 // HistogramDataPoint.attributes
	fKeyValueKey   = 1 // KeyValue.key
	fKeyValueValue = 2 // KeyValue.value
	fAnyString     = 1 // AnyValue.string_value

	fResponsePartial  = 1 // ExportMetricsServiceResponse.partial_success
	fPartialRejected  = 1 // ExportMetricsPartialSuccess.rejected_data_points
	fPartialErrorText = 2 // ExportMetricsPartialSuccess.error_message
)

// resource is what every request says about its sender: the resource's
// attributes (sorted by key) and the instrumentation scope.
type resource struct {
	attrs          [][2]string
	scope, version string
}

func newResource(o Options) resource {
	r := resource{scope: "github.com/virtwatt/virtwatt/" + o.ServiceName, version: o.ServiceVersion}
	r.attrs = append(r.attrs, [2]string{"service.name", o.ServiceName})
	if o.ServiceVersion != "" {
		r.attrs = append(r.attrs, [2]string{"service.version", o.ServiceVersion})
	}
	for k, v := range o.Attributes {
		if k != "service.name" && k != "service.version" {
			r.attrs = append(r.attrs, [2]string{k, v})
		}
	}
	slices.SortFunc(r.attrs, func(a, b [2]string) int { return cmp.Compare(a[0], b[0]) })
	return r
}

// encodeRequest appends to b the ExportMetricsServiceRequest holding fams'
// virtwatt_* families, and returns it with the number of data points.
// Counters are cumulative monotonic sums since start, gauges (and untyped)
// gauges, histograms cumulative explicit-bucket histograms, labels
// attributes; NaN and ±Inf values are left out, and so is a family left
// with no point.
func encodeRequest(b []byte, r *resource, fams []*dto.MetricFamily, start, now time.Time) ([]byte, int) {
	e := encoder{b: b}
	rm := e.begin(fRequestResourceMetrics)
	res := e.begin(fResourceMetricsResource)
	for _, kv := range r.attrs {
		e.keyValue(fResourceAttributes, kv[0], kv[1])
	}
	e.end(res)
	sm := e.begin(fResourceMetricsScopeMetrics)
	sc := e.begin(fScopeMetricsScope)
	e.string(fScopeName, r.scope)
	e.string(fScopeVersion, r.version)
	e.end(sc)
	t0, t1 := unixNano(start), unixNano(now)
	points := 0
	for _, f := range fams {
		if strings.HasPrefix(f.GetName(), Prefix) {
			points += e.metric(f, t0, t1)
		}
	}
	e.end(sm)
	e.end(rm)
	return e.b, points
}

func unixNano(t time.Time) uint64 { return uint64(max(t.UnixNano(), 0)) }

// finite drops NaN and ±Inf values (never pushed as data).
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func (e *encoder) keyValue(field int, k, v string) {
	kv := e.begin(field)
	e.string(fKeyValueKey, k)
	av := e.begin(fKeyValueValue)
	e.string(fAnyString, v)
	e.end(av)
	e.end(kv)
}

func (e *encoder) labels(field int, ls []*dto.LabelPair) {
	for _, l := range ls {
		e.keyValue(field, l.GetName(), l.GetValue())
	}
}

// metric writes one family as a Metric and returns its number of points;
// a family with none is not written.
func (e *encoder) metric(f *dto.MetricFamily, t0, t1 uint64) int {
	mark := len(e.b)
	m := e.begin(fScopeMetricsMetrics)
	e.string(fMetricName, Name(f.GetName(), f.GetType()))
	e.string(fMetricDescription, f.GetHelp())
	e.string(fMetricUnit, Unit(f.GetName()))
	n := 0
	switch t := f.GetType(); t {
	case dto.MetricType_COUNTER:
		d := e.begin(fMetricSum)
		for _, pm := range f.GetMetric() {
			if v := pm.GetCounter().GetValue(); finite(v) {
				e.numberPoint(pm.GetLabel(), t0, t1, v)
				n++
			}
		}
		e.uint(fTemporality, cumulative)
		e.bool(fSumMonotonic, true)
		e.end(d)
	case dto.MetricType_GAUGE, dto.MetricType_UNTYPED:
		d := e.begin(fMetricGauge)
		for _, pm := range f.GetMetric() {
			v := pm.GetGauge().GetValue()
			if t == dto.MetricType_UNTYPED {
				v = pm.GetUntyped().GetValue()
			}
			if finite(v) {
				e.numberPoint(pm.GetLabel(), t0, t1, v)
				n++
			}
		}
		e.end(d)
	case dto.MetricType_HISTOGRAM:
		d := e.begin(fMetricHistogram)
		for _, pm := range f.GetMetric() {
			if h := pm.GetHistogram(); finite(h.GetSampleSum()) {
				e.histogramPoint(pm.GetLabel(), t0, t1, h)
				n++
			}
		}
		e.uint(fTemporality, cumulative)
		e.end(d)
	}
	// Summaries: none among virtwatt's metrics.
	if n == 0 {
		e.b = e.b[:mark]
		return 0
	}
	e.end(m)
	return n
}

func (e *encoder) numberPoint(ls []*dto.LabelPair, t0, t1 uint64, v float64) {
	p := e.begin(fDataPoints)
	e.labels(fNumberAttrs, ls)
	e.fixed64(fPointStart, t0)
	e.fixed64(fPointTime, t1)
	e.double(fNumberDouble, v)
	e.end(p)
}

// histogramPoint maps Prometheus's cumulative buckets to OTel's: the
// bounds without +Inf, a count per bucket, and one more for the overflow.
func (e *encoder) histogramPoint(ls []*dto.LabelPair, t0, t1 uint64, h *dto.Histogram) {
	count := h.GetSampleCount()
	var bounds, counts []uint64
	var prev uint64
	for _, b := range h.GetBucket() {
		if math.IsInf(b.GetUpperBound(), +1) {
			continue
		}
		c := b.GetCumulativeCount()
		bounds = append(bounds, math.Float64bits(b.GetUpperBound()))
		counts = append(counts, c-min(prev, c))
		prev = max(prev, c)
	}
	counts = append(counts, count-min(prev, count))
	p := e.begin(fDataPoints)
	e.labels(fHistAttrs, ls)
	e.fixed64(fPointStart, t0)
	e.fixed64(fPointTime, t1)
	e.fixed64(fHistCount, count)
	e.double(fHistSum, h.GetSampleSum())
	e.packedFixed64(fHistBuckets, counts)
	e.packedFixed64(fHistBounds, bounds)
	e.end(p)
}

// partialSuccess decodes an ExportMetricsServiceResponse: the points the
// collector rejected and why (0 and "" for a full success or a body that
// is not one).
func partialSuccess(b []byte) (rejected int64, msg string) {
	_ = fields(b, func(f field) {
		if f.num != fResponsePartial || f.wire != wireBytes {
			return
		}
		_ = fields(f.data, func(g field) {
			switch {
			case g.num == fPartialRejected && g.wire == wireVarint:
				rejected = int64(g.v)
			case g.num == fPartialErrorText && g.wire == wireBytes:
				msg = string(g.data)
			}
		})
	})
	return rejected, msg
}
