package hostagent

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/virtwatt/virtwatt/hostagent/collector"
	"github.com/virtwatt/virtwatt/hostagent/state"
)

func gatherText(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	return buf.String()
}

func TestCollectorRendersConservedFigures(t *testing.T) {
	cfg := testConfig(t)
	h := newFakeHost(2, 3)
	h.doms[0].Labels = map[string]string{"team": "infra"}
	h.doms[1].Labels = map[string]string{"project": "x"}
	st := state.New()
	a := newTestAgent(t, cfg, h, st)
	for i := 0; i < 5; i++ {
		h.advance(time.Second)
		a.Tick(context.Background())
	}
	obs := NewObserver()
	reg, err := newRegistry(a, obs)
	if err != nil {
		t.Fatal(err)
	}
	text := gatherText(t, reg)
	for _, want := range []string{
		`virtwatt_host_energy_joules_total{method="measured",model="rapl",socket="1",zone="core"}`,
		`virtwatt_domain_energy_joules_total{domain="vm-000000000000",label_project="",label_team="infra",method="measured",model="rapl",part="idle",uuid=`,
		`virtwatt_domain_power_watts{domain="vm-000000000001"`,
		`virtwatt_domain_cpu_seconds_total{domain="vm-000000000002"`,
		`virtwatt_host_unattributed_energy_joules_total{zone="dram"}`,
		`virtwatt_host_power_watts{method="measured",model="rapl",zone="package"}`,
		`virtwatt_errors_total{stage="domains"} 0`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// Conservation as Prometheus sees it, per zone, in joules.
	for zi, z := range cfg.Zones {
		var host, sum float64
		for _, c := range a.Snapshot().HostEnergy {
			if c.Kind == z {
				host += float64(c.EnergyUJ)
			}
		}
		sum = float64(a.Snapshot().UnattributedUJ[z])
		for _, d := range a.Snapshot().Domains {
			sum += float64(d.UsageUJ[zi] + d.IdleUJ[zi])
		}
		if host != sum || host == 0 {
			t.Fatalf("zone %s: host %v µJ, Σ %v µJ", z, host, sum)
		}
	}
	if n := testutil.CollectAndCount(collector.New(a.Snapshot)); n < 3*2*2 {
		t.Fatalf("only %d series", n)
	}

	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("VIRTWATT_REQUIRE_TOOLS") != "" {
			t.Fatal("promtool not found and VIRTWATT_REQUIRE_TOOLS is set")
		}
		t.Log("promtool not installed: lint step not run (CI sets VIRTWATT_REQUIRE_TOOLS)")
		return
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}
