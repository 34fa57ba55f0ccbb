//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// target is one Prometheus scrape job.
type target struct {
	Job  string
	Addr string // host:port
}

// promConfig is what one Prometheus of the suite does beyond scraping.
type promConfig struct {
	Name        string            // process and directory name: "prometheus", "prometheus-central", ...
	Targets     []target          // scraped every second
	RuleFiles   []string          // absolute paths, evaluated every second
	External    map[string]string // external_labels (added to what it remote-writes)
	RemoteWrite []string          // receivers' base URLs; recorded series are not sent
	Receiver    bool              // --web.enable-remote-write-receiver
}

// startPrometheus writes a config scraping targets every second and starts
// Debian's prometheus on a free loopback port. It returns the API base URL.
func (s *suite) startPrometheus(ctx context.Context, targets []target) string {
	return s.startPrometheusWith(ctx, promConfig{Name: "prometheus", Targets: targets})
}

// startPrometheusWith starts one Prometheus as pc says, checked by
// promtool first, and returns its API base URL once it is ready.
func (s *suite) startPrometheusWith(ctx context.Context, pc promConfig) string {
	s.t.Helper()
	var cfg strings.Builder
	cfg.WriteString("global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  evaluation_interval: 1s\n")
	if len(pc.External) > 0 {
		cfg.WriteString("  external_labels:\n")
		for k, v := range pc.External {
			fmt.Fprintf(&cfg, "    %s: %q\n", k, v)
		}
	}
	if len(pc.RuleFiles) > 0 {
		cfg.WriteString("rule_files:\n")
		for _, f := range pc.RuleFiles {
			fmt.Fprintf(&cfg, "  - %q\n", f)
		}
	}
	if len(pc.RemoteWrite) > 0 {
		cfg.WriteString("remote_write:\n")
		for _, u := range pc.RemoteWrite {
			// Raw samples only: the receiver evaluates the rules over the
			// whole fleet itself (an edge's recorded series would collide).
			fmt.Fprintf(&cfg, "  - url: %q\n    queue_config: {batch_send_deadline: 500ms, min_backoff: 100ms, max_backoff: 1s}\n"+
				"    write_relabel_configs:\n      - {source_labels: [__name__], regex: '.*:.*|kepler_.*', action: drop}\n", u+"/api/v1/write")
		}
	}
	cfg.WriteString("scrape_configs:\n")
	for _, t := range pc.Targets {
		fmt.Fprintf(&cfg, "  - job_name: %s\n    static_configs:\n      - targets: ['%s']\n", t.Job, t.Addr)
	}
	if len(pc.Targets) == 0 {
		cfg.WriteString("  []\n")
	}
	cfgPath := s.path(pc.Name + ".yml")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o644); err != nil {
		s.t.Fatal(err)
	}
	if out, err := run(ctx, "", nil, "promtool", "check", "config", cfgPath); err != nil {
		s.t.Fatalf("promtool check config: %v\n%s", err, out)
	}
	port := freePort(s.t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	args := []string{"prometheus", "--config.file=" + cfgPath, "--storage.tsdb.path=" + s.mkdir(pc.Name),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), "--log.level=warn"}
	if pc.Receiver {
		args = append(args, "--web.enable-remote-write-receiver")
	}
	p := s.startProc(pc.Name, args...)
	ready := waitFor(30*time.Second, 100*time.Millisecond, func() bool {
		if !p.running() {
			return true // exited: reported below
		}
		resp, err := http.Get(base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if !ready || !p.running() {
		s.t.Fatalf("%s not ready in 30 s:\n%s", pc.Name, tail(p.log, 20))
	}
	return base
}

// promSample is one series of a query result: its labels and its values
// (one for an instant vector, the raw samples for a range vector).
type promSample struct {
	Labels map[string]string
	Times  []float64
	Values []float64
}

// Value is the (last) value.
func (p promSample) Value() float64 { return p.Values[len(p.Values)-1] }

// promQuery runs an instant query at time at (now when zero) through the
// HTTP API and returns vector or matrix results.
func promQuery(base, expr string, at time.Time) ([]promSample, error) {
	q := url.Values{"query": {expr}}
	if !at.IsZero() {
		q.Set("time", strconv.FormatFloat(float64(at.UnixNano())/1e9, 'f', 3, 64))
	}
	resp, err := http.Get(base + "/api/v1/query?" + q.Encode())
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", expr, err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Value  []any             `json:"value"`
				Values [][]any           `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("query %q: decode: %w", expr, err)
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("query %q: %s", expr, body.Error)
	}
	var out []promSample
	for _, r := range body.Data.Result {
		ps := promSample{Labels: r.Metric}
		pairs := r.Values
		if r.Value != nil {
			pairs = [][]any{r.Value}
		}
		for _, p := range pairs {
			if len(p) != 2 {
				return nil, fmt.Errorf("query %q: bad sample %v", expr, p)
			}
			ts, _ := p[0].(float64)
			vs, _ := p[1].(string)
			v, err := strconv.ParseFloat(vs, 64)
			if err != nil {
				return nil, fmt.Errorf("query %q: value %v: %w", expr, p[1], err)
			}
			ps.Times = append(ps.Times, ts)
			ps.Values = append(ps.Values, v)
		}
		out = append(out, ps)
	}
	return out, nil
}

// byLabel indexes single-valued results by one label.
func byLabel(ss []promSample, label string) map[string]float64 {
	m := map[string]float64{}
	for _, s := range ss {
		m[s.Labels[label]] = s.Value()
	}
	return m
}
