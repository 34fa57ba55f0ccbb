package rules

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Conditional names the metrics that exist only in some setups, and why:
// an expression that reads one may return no data on a healthy system.
// Every other expression of a dashboard or recording rule must return
// data against a Prometheus that scrapes both agents. Alert expressions
// must evaluate without error and, on a healthy system, return nothing.
var Conditional = map[string]string{
	"virtwatt_output_errors_total":         "only with an output (CSV, JSON lines, webhook, per-process split)",
	"virtwatt_vm_embodied_grams_total":     "only when the host record carries an embodied share (--embodied-kgco2e)",
	"virtwatt_process_power_watts":         "only with the per-process split (--top-processes > 0)",
	"virtwatt_process_energy_joules_total": "only with the per-process split",
}

// MayBeEmpty reports whether e may return no data on a healthy system,
// and why.
func MayBeEmpty(e Expr) (bool, string) {
	if e.Kind == KindAlert {
		return true, "an alert: empty when all is well"
	}
	for _, n := range MetricNames(e.Query) {
		if why, ok := Conditional[n]; ok {
			return true, n + ": " + why
		}
	}
	return false, ""
}

// Evaluate runs q (instantiated if it holds Grafana variables) as an
// instant query against the Prometheus at base (e.g.
// "http://127.0.0.1:9090") and returns how many series or samples it
// returned. An error means the query failed: it did not parse, or
// Prometheus refused it (a many-to-many match, say).
func Evaluate(ctx context.Context, c *http.Client, base, q string) (int, error) {
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	u := base + "/api/v1/query?" + url.Values{"query": {Instantiate(q)}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return 0, err
	}
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return 0, fmt.Errorf("query %s: HTTP %d, undecodable answer: %w", q, resp.StatusCode, err)
	}
	if r.Status != "success" {
		return 0, fmt.Errorf("query %s: %s", Instantiate(q), r.Error)
	}
	switch r.Data.ResultType {
	case "vector", "matrix":
		var v []json.RawMessage
		if err := json.Unmarshal(r.Data.Result, &v); err != nil {
			return 0, err
		}
		return len(v), nil
	default: // scalar, string
		return 1, nil
	}
}

// CheckAll evaluates every expression against the Prometheus at base and
// returns one error per expression that failed, or that returned no data
// although MayBeEmpty says it must.
func CheckAll(ctx context.Context, base string, exprs []Expr) []error {
	var errs []error
	for _, e := range exprs {
		n, err := Evaluate(ctx, nil, base, e.Query)
		if err != nil {
			errs = append(errs, fmt.Errorf("%v: %w", e, err))
			continue
		}
		if may, _ := MayBeEmpty(e); n == 0 && !may {
			errs = append(errs, fmt.Errorf("%v: no data for %s", e, Instantiate(e.Query)))
		}
	}
	return errs
}
