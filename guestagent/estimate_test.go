package guestagent

import (
	"context"
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/guestagent/output"
	"github.com/virtwatt/virtwatt/guestagent/selfestimate/fakeproc"
	"github.com/virtwatt/virtwatt/share"
)

func estimateProc(t *testing.T) string { return fakeproc.New(t) }

func setStat(t *testing.T, proc string, busy, idle uint64) { fakeproc.SetStat(t, proc, busy, idle) }

// gathered is the agent's registry as "name{labels}" → value.
func gathered(t *testing.T, a *Agent) map[string]float64 {
	t.Helper()
	mfs, err := a.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			sort.Strings(ls)
			k := mf.GetName()
			if len(ls) > 0 {
				k += "{" + strings.Join(ls, ",") + "}"
			}
			switch {
			case m.Counter != nil:
				out[k] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				out[k] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

const (
	estPkg  = `virtwatt_vm_energy_joules_total{method="estimated",model="ccf",zone="package"}`
	estDRAM = `virtwatt_vm_energy_joules_total{method="estimated",model="ccf",zone="dram"}`
	measPkg = `virtwatt_vm_energy_joules_total{method="measured",model="rapl",zone="package"}`
)

// cascadeLake4 is CCF's power of the fake proc's 4 Cascade Lake vCPUs at
// utilization u (0.64 to 3.97 W per vCPU) and of its 8 GiB (0.392 W/GB).
func cascadeLake4(u float64) (cpuW, memW float64) { return 4 * (0.64 + (3.97-0.64)*u), 8 * 0.392 }

func estimatingConfig(t *testing.T, shareDir string) (Config, string) {
	cfg := testConfig(shareDir)
	cfg.Estimate = true
	cfg.ProcRoot = estimateProc(t)
	return cfg, cfg.ProcRoot
}

// TestAgentEstimatesWithoutShare: no share: virtwatt_share_up 0, and the
// power and energy exported are the CCF formula by hand, labelled
// method="estimated", model="ccf".
func TestAgentEstimatesWithoutShare(t *testing.T) {
	cfg, proc := estimatingConfig(t, filepath.Join(t.TempDir(), "no-share"))
	now := hostT0
	a, err := New(cfg, nil, withClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a.poll(ctx) // the estimate's baseline
	setStat(t, proc, 1000+1000, 3000+3000)
	now = now.Add(10 * time.Second)
	s := a.poll(ctx)
	if s.Up || !s.Estimated() {
		t.Fatalf("sample up %v mode %q, want the guest's estimate", s.Up, s.Mode)
	}
	m := gathered(t, a)
	cpuW, memW := cascadeLake4(0.25)
	if m["virtwatt_share_up"] != 0 {
		t.Fatalf("virtwatt_share_up %v while estimating", m["virtwatt_share_up"])
	}
	for k, want := range map[string]float64{
		`virtwatt_vm_power_watts{method="estimated",model="ccf",zone="package"}`: cpuW,
		`virtwatt_vm_power_watts{method="estimated",model="ccf",zone="dram"}`:    memW,
		estPkg:  cpuW * 10,
		estDRAM: memW * 10,
	} {
		got, ok := m[k]
		if !ok || math.Abs(got-want) > 1e-6 {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, want)
		}
	}
	for k := range m {
		if strings.Contains(k, `method="measured"`) {
			t.Errorf("%s exported without a share", k)
		}
	}
}

// TestAgentSwitchNeverGoesBack: estimated, then a share appears
// (measured from then on; its counters' past is not counted: that time
// was estimated), then the share goes (estimated again, after the share's
// staleness limit), then it comes back with counters that covered the
// gap. No series ever goes back or vanishes, the estimated series keeps
// its value while measured, and every µJ is counted once.
func TestAgentSwitchNeverGoesBack(t *testing.T) {
	root := t.TempDir()
	w, err := share.NewWriter(root)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	shareDir := filepath.Join(root, "vm1")
	cfg, proc := estimatingConfig(t, shareDir)
	now := hostT0
	a, err := New(cfg, nil, withClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	last := map[string]float64{}
	busy, idle := uint64(1000), uint64(3000)
	poll := func(what string, at time.Duration, advance uint64) map[string]float64 {
		t.Helper()
		busy, idle = busy+advance, idle+3*advance // u = 0.25 whenever time passes
		setStat(t, proc, busy, idle)
		now = hostT0.Add(at)
		s := a.poll(ctx)
		m := gathered(t, a)
		var sum float64
		for k, v := range m {
			if !strings.HasPrefix(k, "virtwatt_vm_energy_joules_total") {
				continue
			}
			sum += v
			if v < last[k] {
				t.Fatalf("%s: %s went back %v → %v", what, k, last[k], v)
			}
		}
		for k := range last {
			if _, ok := m[k]; !ok {
				t.Fatalf("%s: %s vanished", what, k)
			}
		}
		if total := float64(s.TotalEnergyUJ()) / 1e6; math.Abs(sum-total) > 1e-6 {
			t.Fatalf("%s: Σ series %v J ≠ the VM's energy %v J", what, sum, total)
		}
		for k, v := range m {
			if strings.HasPrefix(k, "virtwatt_vm_energy_joules_total") {
				last[k] = v
			}
		}
		return m
	}
	record := func(seq, pkgUJ uint64) {
		t.Helper()
		if err := w.Write("vm1", testRecord(seq, pkgUJ, 0), false); err != nil {
			t.Fatal(err)
		}
	}
	cpuW, memW := cascadeLake4(0.25)

	poll("no share, first poll", 0, 0)
	m := poll("no share, 10 s later", 10*time.Second, 1000)
	est10 := m[estPkg]
	if math.Abs(est10-cpuW*10) > 1e-6 || m["virtwatt_share_up"] != 0 {
		t.Fatalf("estimated %v J (share_up %v), want %v J", est10, m["virtwatt_share_up"], cpuW*10)
	}

	record(11, 100_000_000) // 100 J on the host's counters already: their past was estimated
	m = poll("share appears", 11*time.Second, 100)
	if m["virtwatt_share_up"] != 1 || m[measPkg] != 0 {
		t.Fatalf("share appears: share_up %v, measured %v J; want up and nothing counted twice", m["virtwatt_share_up"], m[measPkg])
	}
	record(12, 140_000_000)
	m = poll("measured", 12*time.Second, 100)
	if m[measPkg] != 40 || m[estPkg] != est10 {
		t.Fatalf("measured %v J (want 40), estimated %v J (want %v kept)", m[measPkg], m[estPkg], est10)
	}
	if _, ok := m[`virtwatt_vm_power_watts{method="measured",model="rapl",zone="package"}`]; !ok {
		t.Fatalf("no measured power while the share is up: %v", m)
	}

	// The share goes away (unmounted, say).
	if err := os.Rename(shareDir, shareDir+".gone"); err != nil {
		t.Fatal(err)
	}
	m = poll("share gone, within its staleness limit", 13*time.Second, 100)
	if m[estPkg] != est10 {
		t.Fatalf("estimated within the staleness limit of a share just lost: %v J", m[estPkg])
	}
	m = poll("share gone past its staleness limit", 16*time.Second, 400)
	est16 := m[estPkg]
	if want := est10 + cpuW*4; math.Abs(est16-want) > 1e-6 { // since the last poll the share was up (12 s)
		t.Fatalf("estimated %v J, want %v J (4 s more)", est16, want)
	}
	if _, ok := m[`virtwatt_vm_power_watts{method="estimated",model="ccf",zone="dram"}`]; !ok || m["virtwatt_share_up"] != 0 {
		t.Fatalf("estimating again: share_up %v, power %v", m["virtwatt_share_up"], m)
	}
	if err := os.Rename(shareDir+".gone", shareDir); err != nil {
		t.Fatal(err)
	}
	record(20, 200_000_000) // the host went on counting over the estimated gap
	m = poll("share back", 20*time.Second, 400)
	if m[measPkg] != 40 {
		t.Fatalf("share back: measured %v J, want 40 (the gap was estimated)", m[measPkg])
	}
	record(21, 205_000_000)
	m = poll("measured again", 21*time.Second, 100)
	if m[measPkg] != 45 || m[estPkg] != est16 {
		t.Fatalf("measured %v J (want 45), estimated %v J (want %v)", m[measPkg], m[estPkg], est16)
	}
	if want := memW * (10 + 4); math.Abs(m[estDRAM]-want) > 1e-6 {
		t.Fatalf("estimated dram %v J, want %v J", m[estDRAM], want)
	}
}

// TestCSVWhileEstimating: with no share, emissions.csv still gets rows,
// its tracking_mode and cpu_model filled as CodeCarbon fills them
// ("machine", and the CPU model name of the machine it runs on, as
// /proc/cpuinfo gives it), its energy the estimate's.
func TestCSVWhileEstimating(t *testing.T) {
	cfg, proc := estimatingConfig(t, filepath.Join(t.TempDir(), "no-share"))
	cfg.CSV = filepath.Join(t.TempDir(), "emissions.csv")
	cfg.CSVInterval = Duration{time.Second}
	c, err := NewCSV(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := hostT0
	a, err := New(cfg, nil, withClock(func() time.Time { return now }), WithSink(c))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a.poll(ctx) // the estimate's baseline: the CSV run starts here, at 0 J
	setStat(t, proc, 1000+1000, 3000+3000)
	now = now.Add(10 * time.Second)
	a.poll(ctx)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(cfg.CSV)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) < 2 {
		t.Fatalf("emissions.csv: %v rows, %v", len(rows), err)
	}
	col := map[string]string{}
	for i, h := range rows[0] {
		col[h] = rows[len(rows)-1][i]
	}
	cpuW, _ := cascadeLake4(0.25)
	if col["tracking_mode"] != "machine" || col["cpu_model"] != "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz" {
		t.Fatalf("tracking_mode %q cpu_model %q", col["tracking_mode"], col["cpu_model"])
	}
	if got := col["cpu_energy"]; got == "" || !nearText(got, cpuW*10/3.6e6) {
		t.Fatalf("cpu_energy %q kWh, want %v", got, cpuW*10/3.6e6)
	}
	if rows[0][len(rows[0])-1] != output.CodeCarbonColumns[len(output.CodeCarbonColumns)-1] || len(rows[0]) != len(output.CodeCarbonColumns) {
		t.Fatalf("header %v: CodeCarbon's columns, nothing added", rows[0])
	}
}

func nearText(s string, want float64) bool {
	var v float64
	if _, err := fmt.Sscan(s, &v); err != nil {
		return false
	}
	return math.Abs(v-want) <= 1e-9*math.Max(1, want)+1e-12
}
