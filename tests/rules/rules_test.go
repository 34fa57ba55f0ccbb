package rules

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/virtwatt/virtwatt/tests/testbin"
	yaml "go.yaml.in/yaml/v2"
)

const root = "../.."

// promtool returns promtool's path; without it the test fails when
// VIRTWATT_REQUIRE_TOOLS is set (CI) and is skipped otherwise.
func promtool(t *testing.T) string {
	t.Helper()
	p := testbin.Promtool(t)
	if p == "" {
		t.Skip("promtool not installed (apt-get install prometheus); CI sets VIRTWATT_REQUIRE_TOOLS")
	}
	return p
}

func run(t *testing.T, dir string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s (in %s): %v\n%s", filepath.Base(name), strings.Join(args, " "), dir, err, out)
	}
}

func TestPromtoolCheckRules(t *testing.T) {
	pt := promtool(t)
	files, err := RuleFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	run(t, root, pt, append([]string{"check", "rules"}, files...)...)
}

func TestPromtoolTestRules(t *testing.T) {
	pt := promtool(t)
	tests, err := filepath.Glob(filepath.Join(root, PrometheusDir, "tests", "*.test.yml"))
	if err != nil || len(tests) == 0 {
		t.Fatalf("no rule unit tests in %s/tests: %v", PrometheusDir, err)
	}
	for i := range tests {
		tests[i] = filepath.Base(tests[i])
	}
	run(t, filepath.Join(root, PrometheusDir, "tests"), pt, append([]string{"test", "rules"}, tests...)...)
}

// unitTests is what TestEveryRuleIsUnitTested reads of promtool's test files.
type unitTests struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		AlertRuleTest []struct {
			Alertname string           `yaml:"alertname"`
			ExpAlerts []map[string]any `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
		PromQLExprTest []struct {
			Expr string `yaml:"expr"`
		} `yaml:"promql_expr_test"`
	} `yaml:"tests"`
}

// TestEveryRuleIsUnitTested: every alert has a unit test where it fires
// and one where it is silent; every recording rule is queried by a unit
// test; every rule file is loaded by one.
func TestEveryRuleIsUnitTested(t *testing.T) {
	fires, silent, queried, loaded := map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
	tests, _ := filepath.Glob(filepath.Join(root, PrometheusDir, "tests", "*.test.yml"))
	for _, f := range tests {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var ut unitTests
		if err := yaml.Unmarshal(b, &ut); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, rf := range ut.RuleFiles {
			loaded[filepath.Base(rf)] = true
		}
		for _, tc := range ut.Tests {
			for _, a := range tc.AlertRuleTest {
				if len(a.ExpAlerts) > 0 {
					fires[a.Alertname] = true
				} else {
					silent[a.Alertname] = true
				}
			}
			for _, q := range tc.PromQLExprTest {
				queried[q.Expr] = true
			}
		}
	}
	files, err := RuleFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !loaded[filepath.Base(f)] {
			t.Errorf("%s is loaded by no unit test in %s/tests", f, PrometheusDir)
		}
	}
	exprs, err := Rules(root)
	if err != nil {
		t.Fatal(err)
	}
	nameIn := func(name string) bool {
		re := regexp.MustCompile(`(^|[^a-zA-Z0-9_:])` + regexp.QuoteMeta(name) + `($|[^a-zA-Z0-9_:])`)
		for q := range queried {
			if re.MatchString(q) {
				return true
			}
		}
		return false
	}
	for _, e := range exprs {
		switch e.Kind {
		case KindAlert:
			if !fires[e.Name] {
				t.Errorf("%v: no unit test where it fires", e)
			}
			if !silent[e.Name] {
				t.Errorf("%v: no unit test where it stays silent (exp_alerts: [])", e)
			}
		case KindRecord:
			if !nameIn(e.Name) {
				t.Errorf("%v: no promql_expr_test queries it", e)
			}
		}
	}
}

// TestAlertsAnnotated: every alert has a severity, a summary and a description.
func TestAlertsAnnotated(t *testing.T) {
	files, err := RuleFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		rf, err := ReadRules(root, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range rf.Groups {
			for _, r := range g.Rules {
				if r.Alert == "" {
					continue
				}
				n++
				for _, k := range []string{"summary", "description"} {
					if strings.TrimSpace(r.Annotations[k]) == "" {
						t.Errorf("%s: alert %s has no %s annotation", f, r.Alert, k)
					}
				}
				if s := r.Labels["severity"]; s != "warning" && s != "critical" {
					t.Errorf("%s: alert %s: severity %q, want warning or critical", f, r.Alert, s)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no alerts found")
	}
}

// TestDashboards: both dashboards exist, choose their data source by a
// variable, and every panel and query uses it.
func TestDashboards(t *testing.T) {
	files, err := DashboardFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	var uids []string
	for _, f := range files {
		d, err := ReadDashboard(root, f)
		if err != nil {
			t.Fatal(err)
		}
		uids = append(uids, d.UID)
		hasDS := false
		for _, v := range d.Templating.List {
			if v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus" {
				hasDS = true
			}
		}
		if !hasDS {
			t.Errorf("%s: no datasource variable (type datasource, query prometheus)", f)
		}
		ids := map[int]bool{}
		for _, p := range d.AllPanels() {
			if ids[p.ID] {
				t.Errorf("%s: panel id %d used twice", f, p.ID)
			}
			ids[p.ID] = true
			if p.Datasource.UID != "${datasource}" {
				t.Errorf("%s: panel %q: datasource %q, want ${datasource}", f, p.Title, p.Datasource.UID)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no query", f, p.Title)
			}
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" || tg.Datasource.UID != "${datasource}" {
					t.Errorf("%s: panel %q query %s: expr %q datasource %q", f, p.Title, tg.RefID, tg.Expr, tg.Datasource.UID)
				}
			}
		}
	}
	slices.Sort(uids)
	if !slices.Equal(uids, []string{"virtwatt-guest", "virtwatt-host"}) {
		t.Errorf("dashboards %v, want virtwatt-guest and virtwatt-host", uids)
	}
}

// ParseCheckFile writes exprs, instantiated, as recording rules of one
// rule file, so that `promtool check rules` parses every one of them.
func parseCheckFile(path string, exprs []Expr) error {
	var b bytes.Buffer
	b.WriteString("groups:\n  - name: parse-check\n    rules:\n")
	for i, e := range exprs {
		// A JSON string is a YAML double-quoted scalar.
		q, err := json.Marshal(Instantiate(e.Query))
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "      # %s\n      - record: parse_check:expr_%d\n        expr: %s\n", e, i, q)
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// TestEveryExpressionParses: every dashboard query, instantiated, and
// every rule parses as PromQL (promtool check rules parses them).
func TestEveryExpressionParses(t *testing.T) {
	pt := promtool(t)
	exprs, err := All(root)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "exprs.yml")
	if err := parseCheckFile(path, exprs); err != nil {
		t.Fatal(err)
	}
	run(t, ".", pt, "check", "rules", path)

	// The check fails on a bad expression: it is not vacuous.
	bad := filepath.Join(t.TempDir(), "bad.yml")
	if err := parseCheckFile(bad, []Expr{{Query: `sum by (zone (virtwatt_host_power_watts)`}}); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(pt, "check", "rules", bad).CombinedOutput(); err == nil {
		t.Fatalf("promtool accepted a broken expression:\n%s", out)
	}
}

func TestInstantiate(t *testing.T) {
	for in, want := range map[string]string{
		`rate(x{instance=~"$instance"}[$__rate_interval])`:  `rate(x{instance=~".*"}[1m])`,
		`increase(x{a=~"${a}", b=~"${b:regex}"}[$__range])`: `increase(x{a=~".*", b=~".*"}[1h])`,
		`label_replace(x, "d", "$1", "s", "(.*)")`:          `label_replace(x, "d", "$1", "s", "(.*)")`,
	} {
		if got := Instantiate(in); got != want {
			t.Errorf("Instantiate(%s) = %s, want %s", in, got, want)
		}
	}
}

// exportedNames returns every metric-name-like string literal in the
// agents' non-test Go sources: "virtwatt_x" or, for names built from a
// namespace constant, "_x".
func exportedNames(t *testing.T) map[string]bool {
	t.Helper()
	lit := regexp.MustCompile(`"(virtwatt)?(_[a-z0-9_]+)"`)
	names := map[string]bool{}
	for _, dir := range []string{"hostagent", "guestagent", "internal"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for _, m := range lit.FindAllStringSubmatch(string(b), -1) {
				names["virtwatt"+m[2]] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return names
}

// TestMetricNamesExist: every virtwatt_* metric an expression reads is
// one the agents define (a typo in a name fails here, before the real-VM
// suite evaluates the expressions).
func TestMetricNamesExist(t *testing.T) {
	exprs, err := All(root)
	if err != nil {
		t.Fatal(err)
	}
	names := exportedNames(t)
	if !names["virtwatt_domain_energy_joules_total"] || !names["virtwatt_vm_emissions_grams_total"] {
		t.Fatalf("the agents' metric names were not found in their sources (%d names)", len(names))
	}
	for _, e := range exprs {
		for _, n := range MetricNames(e.Query) {
			if !names[n] {
				t.Errorf("%v reads %s, which neither agent exports", e, n)
			}
		}
	}
	if got := MetricNames(`rate(virtwatt_tick_duration_seconds_bucket[1m]) + a:virtwatt_x:y + virtwatt_typo_total`); !slices.Equal(got,
		[]string{"virtwatt_tick_duration_seconds", "virtwatt_typo_total"}) {
		t.Fatalf("MetricNames = %v", got)
	}
	if names["virtwatt_typo_total"] {
		t.Fatal("a typo counts as exported: the check is vacuous")
	}
}
