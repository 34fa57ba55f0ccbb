//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/tests/rules"
)

// The fleet of the suite: two hypervisors, each with its own Prometheus
// (an "edge") that remote-writes its raw samples to a central Prometheus
// (--web.enable-remote-write-receiver), which evaluates the shipped rules
// over the whole fleet. Hypervisor A is the real one (libvirtd, the two
// TCG guests); hypervisor B is virtwatt-host --demo (the real pipeline on
// a simulated meter and three VMs), under its own host name.
const (
	fleetHostB = "vw-e2e-fleet-b" // --host-name of the demo hypervisor
	edgeA      = "edge-a"         // external label site= of each edge
	edgeB      = "edge-b"
)

// ruleFiles returns the shipped rule files as absolute paths.
func (s *suite) ruleFiles() []string {
	s.t.Helper()
	rel, err := rules.RuleFiles(s.repo)
	if err != nil {
		s.t.Fatal(err)
	}
	var out []string
	for _, f := range rel {
		out = append(out, filepath.Join(s.repo, f))
	}
	return out
}

// startCentral starts the central Prometheus and returns its base URL,
// for the edges to remote-write to.
func (e *env) startCentral(ctx context.Context) string {
	e.central = e.s.startPrometheusWith(ctx, promConfig{Name: "prometheus-central", Receiver: true, RuleFiles: e.s.ruleFiles()})
	return e.central
}

// startHypervisorB starts hypervisor B (the demo host) and its edge
// Prometheus; the fleet phase does, after the timing phases, so that they
// do not load the machine during those.
func (e *env) startHypervisorB(ctx context.Context) {
	s := e.s
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(s.t))
	e.demoURL = "http://" + addr + "/metrics"
	e.demo = s.startProc("virtwatt-host-demo", e.hostBin, "--demo", "--host-name", fleetHostB,
		"--share-root", s.mkdir("fleet-b", "shares"), "--ro-root", s.path("fleet-b", "ro"),
		"--state-file", s.path("fleet-b", "state.json"), "--listen", addr, "--interval", tick.String())
	if !waitFor(15*time.Second, 100*time.Millisecond, func() bool {
		_, err := scrape(e.demoURL)
		return err == nil || !e.demo.running()
	}) || !e.demo.running() {
		s.t.Fatalf("virtwatt-host --demo does not serve %s:\n%s", e.demoURL, tail(e.demo.log, 20))
	}
	e.edgeB = s.startPrometheusWith(ctx, promConfig{Name: "prometheus-" + edgeB, Targets: []target{{"virtwatt-host", addr}},
		External: map[string]string{"site": edgeB}, RemoteWrite: []string{e.central}})
}

// expressions: every PromQL expression of both Grafana dashboards and of
// every recording and alerting rule evaluates against the suite's
// Prometheus (A's edge, which scrapes the real host and both guests and
// loads the rule files), and each returns data unless rules.MayBeEmpty
// says why it may not; every recorded series exists (Prometheus itself
// evaluated the rule without error).
func (e *env) expressions(t *testing.T) {
	root := e.s.repo
	exprs, err := rules.All(root)
	if err != nil {
		t.Fatal(err)
	}
	var recorded []rules.Expr
	for _, x := range exprs {
		if x.Kind == rules.KindRecord {
			recorded = append(recorded, rules.Expr{File: x.File, Kind: rules.KindRecord, Name: x.Name, Query: x.Name})
		}
	}
	all := append(exprs, recorded...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var errs []error
	t0 := time.Now()
	// The phases before gave a minute of scrapes: rate()[1m] has its two
	// samples. Retry a little in case a rule group has not run yet.
	waitFor(15*time.Second, time.Second, func() bool {
		errs = rules.CheckAll(ctx, e.prom, all)
		return len(errs) == 0
	})
	if len(errs) > 0 {
		t.Fatalf("%d of %d expressions fail against the suite's Prometheus:\n%v", len(errs), len(all), errors.Join(errs...))
	}
	e.s.logf("%d dashboard and rule expressions and %d recorded series evaluated with data in %v",
		len(exprs), len(recorded), time.Since(t0).Round(time.Millisecond))
}

// fleet: the central Prometheus holds both edges' samples, the `host`
// identity (virtwatt_host_info) keeps the hypervisors apart, and the
// per-team energy summed across hosts there equals the sum of what each
// edge holds for that team; the shipped per-team recording rule, evaluated
// by the central one, covers both hypervisors' teams.
func (e *env) fleet(t *testing.T) {
	t0 := time.Now()
	e.startHypervisorB(context.Background())
	e.s.logf("fleet: hypervisor B (virtwatt-host --demo as %s) and its edge prometheus at %s started", fleetHostB, e.edgeB)
	// Far enough back that both edges' remote-write queues have delivered.
	at := time.Now().Add(-5 * time.Second)
	q := func(base, expr string) []promSample {
		t.Helper()
		r, err := promQuery(base, expr, at)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	var hosts map[string]float64
	// B's samples from 5 s back: at least one scrape of B after its start.
	time.Sleep(time.Until(t0.Add(7 * time.Second)))
	if !waitFor(20*time.Second, 500*time.Millisecond, func() bool {
		at = time.Now().Add(-5 * time.Second)
		hosts = byLabel(q(e.central, `count by (host) (virtwatt_host_info)`), "host")
		return len(hosts) == 2
	}) {
		t.Fatalf("the central Prometheus knows hosts %v at %v, want 2 (A's and %s): remote-write not arriving?", hosts, at, fleetHostB)
	}
	if _, ok := hosts[fleetHostB]; !ok {
		t.Errorf("central hosts %v lack %s", hosts, fleetHostB)
	}
	// Per team across hosts, with each contribution's host from the join.
	const perTeam = `sum by (label_team) (virtwatt_domain_energy_joules_total)`
	const perTeamHost = `sum by (label_team, host) (virtwatt_domain_energy_joules_total
		* on (job, instance, site) group_left (host) virtwatt_host_info)`
	central := byLabel(q(e.central, perTeam), "label_team")
	want := map[string]float64{}
	for _, base := range []string{e.prom, e.edgeB} {
		for team, v := range byLabel(q(base, perTeam), "label_team") {
			want[team] += v
		}
	}
	hostsOf := map[string][]string{}
	for _, s := range q(e.central, perTeamHost) {
		hostsOf[s.Labels["label_team"]] = append(hostsOf[s.Labels["label_team"]], s.Labels["host"])
	}
	for _, team := range []string{e.a.Team, e.b.Team, "data"} {
		if want[team] <= 0 {
			t.Errorf("team %q: no energy on the edges (%v)", team, want)
		}
	}
	for team, w := range want {
		if got := central[team]; math.Abs(got-w) > 1e-9*w {
			t.Errorf("team %q: central Σ across hosts %.6f J, edges' sum %.6f J", team, got, w)
		}
	}
	if len(central) != len(want) {
		t.Errorf("central teams %v, edges' %v", central, want)
	}
	// Team "web" runs on both hypervisors (A's busy guest and the demo's web VM).
	if sort.Strings(hostsOf[e.a.Team]); len(hostsOf[e.a.Team]) != 2 {
		t.Errorf("team %q contributions on the central from hosts %v, want 2 hosts", e.a.Team, hostsOf[e.a.Team])
	}
	var kwh map[string]float64
	if !waitFor(10*time.Second, 500*time.Millisecond, func() bool {
		r, err := promQuery(e.central, `label_team:virtwatt_domain_energy_kwh:increase1h`, time.Time{})
		kwh = byLabel(r, "label_team")
		return err == nil && len(kwh) == len(want)
	}) {
		t.Errorf("central's recorded label_team:virtwatt_domain_energy_kwh:increase1h has teams %v, want those of both hosts %v", kwh, want)
	}
	var parts []string
	for team, v := range central {
		parts = append(parts, fmt.Sprintf("%s %.1f J (hosts %s; %.3g kWh/h recorded)", team, v, strings.Join(hostsOf[team], "+"), kwh[team]))
	}
	sort.Strings(parts)
	e.s.logf("fleet: central Prometheus, remote-written by %s and %s, per team across hosts: %s (phase took %v)",
		edgeA, edgeB, strings.Join(parts, "; "), time.Since(t0).Round(time.Millisecond))
}
