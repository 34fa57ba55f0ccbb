package otlp

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
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

// producer reads the registry at each collection (sdkmetric.Producer).
type producer struct {
	g              prometheus.Gatherer
	start          time.Time
	scope, version string
	log            *slog.Logger
	once           sync.Once
}

func (p *producer) Produce(context.Context) ([]metricdata.ScopeMetrics, error) {
	fams, err := p.g.Gather()
	if err != nil && len(fams) == 0 {
		return nil, fmt.Errorf("otlp: gathering metrics: %w", err)
	}
	now := time.Now()
	sm := metricdata.ScopeMetrics{Scope: instrumentation.Scope{Name: "github.com/virtwatt/virtwatt/" + p.scope, Version: p.version}}
	for _, f := range fams {
		if !strings.HasPrefix(f.GetName(), Prefix) {
			continue
		}
		if m, ok := convert(f, p.start, now); ok {
			sm.Metrics = append(sm.Metrics, m)
		}
	}
	return []metricdata.ScopeMetrics{sm}, nil
}

func attrs(m *dto.Metric) attribute.Set {
	kv := make([]attribute.KeyValue, 0, len(m.GetLabel()))
	for _, l := range m.GetLabel() {
		kv = append(kv, attribute.String(l.GetName(), l.GetValue()))
	}
	return attribute.NewSet(kv...)
}

// finite drops NaN and ±Inf values (never pushed as data).
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// convert maps one family; false when nothing in it can be pushed.
func convert(f *dto.MetricFamily, start, now time.Time) (metricdata.Metrics, bool) {
	out := metricdata.Metrics{Name: Name(f.GetName(), f.GetType()), Description: f.GetHelp(), Unit: Unit(f.GetName())}
	switch f.GetType() {
	case dto.MetricType_COUNTER:
		s := metricdata.Sum[float64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: true}
		for _, m := range f.GetMetric() {
			if v := m.GetCounter().GetValue(); finite(v) {
				s.DataPoints = append(s.DataPoints, metricdata.DataPoint[float64]{Attributes: attrs(m), StartTime: start, Time: now, Value: v})
			}
		}
		out.Data = s
		return out, len(s.DataPoints) > 0
	case dto.MetricType_GAUGE, dto.MetricType_UNTYPED:
		g := metricdata.Gauge[float64]{}
		for _, m := range f.GetMetric() {
			v := m.GetGauge().GetValue()
			if f.GetType() == dto.MetricType_UNTYPED {
				v = m.GetUntyped().GetValue()
			}
			if finite(v) {
				g.DataPoints = append(g.DataPoints, metricdata.DataPoint[float64]{Attributes: attrs(m), StartTime: start, Time: now, Value: v})
			}
		}
		out.Data = g
		return out, len(g.DataPoints) > 0
	case dto.MetricType_HISTOGRAM:
		h := metricdata.Histogram[float64]{Temporality: metricdata.CumulativeTemporality}
		for _, m := range f.GetMetric() {
			ph := m.GetHistogram()
			dp := metricdata.HistogramDataPoint[float64]{Attributes: attrs(m), StartTime: start, Time: now,
				Count: ph.GetSampleCount(), Sum: ph.GetSampleSum()}
			var prev uint64
			for _, b := range ph.GetBucket() {
				if math.IsInf(b.GetUpperBound(), +1) {
					continue
				}
				c := b.GetCumulativeCount()
				dp.Bounds = append(dp.Bounds, b.GetUpperBound())
				dp.BucketCounts = append(dp.BucketCounts, c-min(prev, c))
				prev = max(prev, c)
			}
			// The overflow bucket: OTel has one count more than bounds.
			dp.BucketCounts = append(dp.BucketCounts, dp.Count-min(prev, dp.Count))
			if finite(dp.Sum) {
				h.DataPoints = append(h.DataPoints, dp)
			}
		}
		out.Data = h
		return out, len(h.DataPoints) > 0
	}
	return out, false // summaries: none among virtwatt's metrics
}
