package rules

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/tests/testbin"
)

// TestExpressionsAgainstPrometheus runs the real agents (virtwatt-host
// --demo: the real pipeline on a simulated meter and three VMs with team
// and project labels; virtwatt-guest on one VM's share) and a real
// Prometheus that scrapes both and loads every rule file, then evaluates
// every dashboard query and rule expression: each must succeed and, unless
// MayBeEmpty, return data; every recorded series must exist (Prometheus
// evaluated the rule); no alert fires on this healthy system.
func TestExpressionsAgainstPrometheus(t *testing.T) {
	prom, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv("VIRTWATT_REQUIRE_TOOLS") != "" {
			t.Fatal("prometheus not found (Debian: apt-get install prometheus) and VIRTWATT_REQUIRE_TOOLS is set")
		}
		t.Skip("prometheus not installed (apt-get install prometheus); CI sets VIRTWATT_REQUIRE_TOOLS")
	}
	if testing.Short() {
		t.Skip("starts both agents and Prometheus (about 20 s); not in -short")
	}
	exprs, err := All(root)
	if err != nil {
		t.Fatal(err)
	}
	files, err := RuleFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	host, guest := testbin.Build(t)
	dir := t.TempDir()
	hostAddr, guestAddr, promAddr := testbin.FreePort(t), testbin.FreePort(t), testbin.FreePort(t)
	testbin.Start(t, host, "--demo", "--share-root", filepath.Join(dir, "vms"),
		"--state-file", filepath.Join(dir, "state.json"), "--web.listen-address", hostAddr,
		"--pue", "1.2", "--carbon-intensity", "56", "--embodied-kgco2e", "1000")
	share := filepath.Join(dir, "vms", "demo-web")
	testbin.WaitFor(t, "the demo's share", 20*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(share, "virtwatt.json"))
		return err == nil
	})
	testbin.Start(t, guest, "--share-dir", share, "--web.listen-address", guestAddr, "--poll-interval", "1s",
		"--csv", filepath.Join(dir, "emissions.csv"))

	cfg := "global: {scrape_interval: 1s, evaluation_interval: 1s}\nrule_files:\n"
	for _, f := range files {
		abs, _ := filepath.Abs(filepath.Join(root, f))
		cfg += fmt.Sprintf("  - %q\n", abs)
	}
	cfg += fmt.Sprintf("scrape_configs:\n  - job_name: virtwatt-host\n    static_configs: [{targets: [%q]}]\n"+
		"  - job_name: virtwatt-guest\n    static_configs: [{targets: [%q]}]\n", hostAddr, guestAddr)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	testbin.Start(t, prom, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr)
	base := "http://" + promAddr

	var recorded []Expr
	for _, e := range exprs {
		if e.Kind == KindRecord {
			recorded = append(recorded, Expr{File: e.File, Kind: KindRecord, Name: e.Name, Query: e.Name})
		}
	}
	ctx := context.Background()
	check := func() []error {
		errs := CheckAll(ctx, base, append(exprs, recorded...))
		for _, e := range exprs {
			if e.Kind != KindAlert {
				continue
			}
			if n, err := Evaluate(ctx, nil, base, e.Query); err == nil && n > 0 {
				errs = append(errs, fmt.Errorf("%v: fires on a healthy system (%d series)", e, n))
			}
		}
		return errs
	}
	// rate() over 1m needs two scrapes, recorded series a rule evaluation
	// after them: retry until all is there.
	var errs []error
	deadline := time.Now().Add(60 * time.Second)
	for {
		if errs = check(); len(errs) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	if len(errs) > 0 {
		t.Fatalf("%d of %d expressions failed against a real Prometheus:\n%v", len(errs), len(exprs)+len(recorded), errors.Join(errs...))
	}
	t.Logf("%d expressions and %d recorded series evaluated with data", len(exprs), len(recorded))
}
