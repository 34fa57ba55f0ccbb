//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// series is one scraped sample.
type series struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// scrape fetches and parses a /metrics endpoint.
func scrape(url string) ([]series, error) {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	var out []series
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			s := series{Name: name, Labels: map[string]string{}}
			for _, l := range m.GetLabel() {
				s.Labels[l.GetName()] = l.GetValue()
			}
			switch {
			case m.Counter != nil:
				s.Value = m.GetCounter().GetValue()
			case m.Gauge != nil:
				s.Value = m.GetGauge().GetValue()
			case m.Untyped != nil:
				s.Value = m.GetUntyped().GetValue()
			default:
				continue
			}
			out = append(out, s)
		}
	}
	return out, nil
}

// sum adds the values of name whose labels include every pair in match.
func sum(ss []series, name string, match map[string]string) (float64, int) {
	total, n := 0.0, 0
outer:
	for _, s := range ss {
		if s.Name != name {
			continue
		}
		for k, v := range match {
			if s.Labels[k] != v {
				continue outer
			}
		}
		total += s.Value
		n++
	}
	return total, n
}

// uj converts joules as exported (µJ / 1e6) back to the exact microjoules.
func uj(j float64) int64 { return int64(math.Round(j * 1e6)) }

// sumUJ adds exactly, in µJ, the values of name matching match.
func sumUJ(ss []series, name string, match map[string]string) (int64, int) {
	var total int64
	n := 0
outer:
	for _, s := range ss {
		if s.Name != name {
			continue
		}
		for k, v := range match {
			if s.Labels[k] != v {
				continue outer
			}
		}
		total += uj(s.Value)
		n++
	}
	return total, n
}

// hostValue is a domain's cumulative energy in one zone as the host
// endpoint showed it, first seen at At.
type hostValue struct {
	At time.Time
	UJ int64
}

// hostHistory polls the host endpoint and keeps, per domain and zone, every
// distinct value of Σ parts of virtwatt_domain_energy_joules_total, so that
// a guest reading can be matched to the host tick it came from.
type hostHistory struct {
	url string
	mu  sync.Mutex
	h   map[string][]hostValue // key domain/zone
}

func (hh *hostHistory) poll(stop <-chan struct{}, every time.Duration) {
	for {
		select {
		case <-stop:
			return
		case <-time.After(every):
		}
		ss, err := scrape(hh.url)
		if err != nil {
			continue // the host agent is down on purpose at times
		}
		now := time.Now()
		vals := map[string]int64{}
		for _, s := range ss {
			if s.Name == "virtwatt_domain_energy_joules_total" {
				vals[s.Labels["domain"]+"/"+s.Labels["zone"]] += uj(s.Value)
			}
		}
		hh.mu.Lock()
		for k, v := range vals {
			h := hh.h[k]
			if len(h) == 0 || h[len(h)-1].UJ != v {
				hh.h[k] = append(h, hostValue{now, v})
			}
		}
		hh.mu.Unlock()
	}
}

// lag finds a guest's reading v (taken before at) among the host's values
// for domain/zone and returns how many host updates newer than v the host
// had shown by then (0: the guest is current; 1: one tick behind). found is
// false when the host never showed exactly v.
func (hh *hostHistory) lag(domain, zone string, v int64, at time.Time) (lag int, found bool, recent []string) {
	hh.mu.Lock()
	defer hh.mu.Unlock()
	h := hh.h[domain+"/"+zone]
	for i := len(h) - 1; i >= 0; i-- {
		if h[i].UJ == v {
			for j := i + 1; j < len(h); j++ {
				if !h[j].At.After(at) {
					lag++
				}
			}
			return lag, true, nil
		}
	}
	for i := len(h) - 1; i >= 0 && len(recent) < 5; i-- {
		recent = append(recent, fmt.Sprintf("%d µJ at %+.3fs", h[i].UJ, h[i].At.Sub(at).Seconds()))
	}
	return 0, false, recent
}

// shareRecord is the part of the share's virtwatt.json the suite reads,
// decoded independently of package share to check the wire format.
type shareRecord struct {
	Schema   int    `json:"schema"`
	Domain   string `json:"domain"`
	UUID     string `json:"uuid"`
	Instance string `json:"instance"`
	Sequence uint64 `json:"sequence"`
	// Timestamp is the host clock at the reading; the guest exports it as
	// virtwatt_share_last_update_timestamp_seconds.
	Timestamp time.Time `json:"timestamp"`
	Zones     map[string]struct {
		UsageUJ uint64 `json:"usage_uj"`
		IdleUJ  uint64 `json:"idle_uj"`
	} `json:"zones"`
}

func readRecord(path string) (shareRecord, error) {
	var r shareRecord
	b, err := os.ReadFile(path)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// stats summarizes durations: min, median, max.
func stats(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = d.Round(time.Millisecond).String()
	}
	return fmt.Sprintf("min %v median %v max %v (all: %s)", s[0].Round(time.Millisecond), s[len(s)/2].Round(time.Millisecond),
		s[len(s)-1].Round(time.Millisecond), strings.Join(parts, " "))
}
