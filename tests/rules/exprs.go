// Package rules lists every PromQL expression virtwatt ships — the
// Grafana dashboards in configs/grafana and the recording and alerting
// rules in configs/prometheus — so that tests can check all of them: this
// package's tests parse them with promtool and run the rules' unit tests,
// and the real-VM suite (tests/e2e) can evaluate each one against its
// Prometheus and require data, so that no typo survives.
//
// Dashboard expressions hold Grafana variables; Instantiate turns one into
// plain PromQL.
package rules

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	yaml "go.yaml.in/yaml/v2"
)

// Kinds of Expr.
const (
	KindDashboard = "dashboard"
	KindRecord    = "record"
	KindAlert     = "alert"
)

// Expr is one PromQL expression and where it comes from.
type Expr struct {
	File  string // relative to the repository root
	Kind  string // KindDashboard, KindRecord or KindAlert
	Name  string // panel title, recorded series or alert name
	Query string // as written (dashboards: with Grafana variables)
}

func (e Expr) String() string { return fmt.Sprintf("%s: %s %q", e.File, e.Kind, e.Name) }

// Dirs of the shipped files, relative to the repository root.
const (
	GrafanaDir    = "configs/grafana"
	PrometheusDir = "configs/prometheus"
)

// RuleFile is a Prometheus rule file, as far as these tests read it.
type RuleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []Rule `yaml:"rules"`
	} `yaml:"groups"`
}

// Rule is one recording or alerting rule.
type Rule struct {
	Record      string            `yaml:"record"`
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// RuleFiles returns the rule files under root's PrometheusDir (not the
// unit tests under its tests/ directory), relative to root.
func RuleFiles(root string) ([]string, error) {
	return globRel(root, PrometheusDir, "*.yml", "rule files")
}

// globRel returns the files matching pattern in root/dir, relative to
// root; none is an error.
func globRel(root, dir, pattern, what string) ([]string, error) {
	m, err := filepath.Glob(filepath.Join(root, dir, pattern))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range m {
		rel, _ := filepath.Rel(root, p)
		out = append(out, rel)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no %s in %s", what, filepath.Join(root, dir))
	}
	return out, nil
}

// ReadRules parses one rule file.
func ReadRules(root, rel string) (RuleFile, error) {
	var rf RuleFile
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		return rf, err
	}
	if err := yaml.UnmarshalStrict(b, &rf); err != nil {
		return rf, fmt.Errorf("%s: %w", rel, err)
	}
	return rf, nil
}

// Rules returns the expression of every recording and alerting rule.
func Rules(root string) ([]Expr, error) {
	files, err := RuleFiles(root)
	if err != nil {
		return nil, err
	}
	var out []Expr
	for _, f := range files {
		rf, err := ReadRules(root, f)
		if err != nil {
			return nil, err
		}
		for _, g := range rf.Groups {
			for _, r := range g.Rules {
				e := Expr{File: f, Kind: KindRecord, Name: r.Record, Query: r.Expr}
				if r.Alert != "" {
					e.Kind, e.Name = KindAlert, r.Alert
				}
				out = append(out, e)
			}
		}
	}
	return out, nil
}

// Dashboard is a Grafana dashboard, as far as these tests read it.
type Dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []Panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

// Panel is a dashboard panel (rows hold panels of their own).
type Panel struct {
	ID         int        `json:"id"`
	Type       string     `json:"type"`
	Title      string     `json:"title"`
	Datasource Datasource `json:"datasource"`
	Targets    []struct {
		RefID      string     `json:"refId"`
		Expr       string     `json:"expr"`
		Datasource Datasource `json:"datasource"`
	} `json:"targets"`
	Panels []Panel `json:"panels"`
}

// Datasource is a panel's or target's data source reference.
type Datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// DashboardFiles returns the dashboards under root's GrafanaDir, relative to root.
func DashboardFiles(root string) ([]string, error) {
	return globRel(root, GrafanaDir, "*.json", "dashboards")
}

// ReadDashboard parses one dashboard.
func ReadDashboard(root, rel string) (Dashboard, error) {
	var d Dashboard
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		return d, err
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return d, fmt.Errorf("%s: %w", rel, err)
	}
	return d, nil
}

// AllPanels flattens rows.
func (d Dashboard) AllPanels() []Panel {
	var out []Panel
	var walk func([]Panel)
	walk = func(ps []Panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// Dashboards returns every target's expression of every dashboard.
func Dashboards(root string) ([]Expr, error) {
	files, err := DashboardFiles(root)
	if err != nil {
		return nil, err
	}
	var out []Expr
	for _, f := range files {
		d, err := ReadDashboard(root, f)
		if err != nil {
			return nil, err
		}
		for _, p := range d.AllPanels() {
			for _, t := range p.Targets {
				out = append(out, Expr{File: f, Kind: KindDashboard, Name: p.Title + " / " + t.RefID, Query: t.Expr})
			}
		}
	}
	return out, nil
}

// All returns the dashboards' and the rules' expressions.
func All(root string) ([]Expr, error) {
	d, err := Dashboards(root)
	if err != nil {
		return nil, err
	}
	r, err := Rules(root)
	if err != nil {
		return nil, err
	}
	return append(d, r...), nil
}

var grafanaVar = regexp.MustCompile(`\$(\{[A-Za-z_][A-Za-z0-9_]*(:[a-z]+)?\}|[A-Za-z_][A-Za-z0-9_]*)`)

// Instantiate replaces Grafana's variables with values a plain Prometheus
// query accepts: $__rate_interval and $__interval by 1m, $__range by 1h,
// and every other variable (used as =~"$var" matchers) by ".*".
func Instantiate(q string) string {
	return grafanaVar.ReplaceAllStringFunc(q, func(v string) string {
		name := strings.Trim(v, "${}")
		name, _, _ = strings.Cut(name, ":")
		switch name {
		case "__rate_interval", "__interval":
			return "1m"
		case "__range":
			return "1h"
		}
		return ".*"
	})
}

var metricName = regexp.MustCompile(`\b(virtwatt_[a-z0-9_]+)\b`)

// MetricNames returns the virtwatt_* metric names an expression reads,
// with histogram suffixes (_bucket, _sum, _count) removed.
func MetricNames(q string) []string {
	var out []string
	for _, m := range metricName.FindAllStringSubmatchIndex(q, -1) {
		// Not a recorded series (level:virtwatt_...:op): those start after a colon.
		if m[2] > 0 && q[m[2]-1] == ':' {
			continue
		}
		n := q[m[2]:m[3]]
		if strings.HasSuffix(n, "_bucket") || strings.HasSuffix(n, "_sum") || strings.HasSuffix(n, "_count") {
			n = n[:strings.LastIndex(n, "_")]
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}
