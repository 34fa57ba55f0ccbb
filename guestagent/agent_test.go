package guestagent

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/guestagent/measure"
	"github.com/virtwatt/virtwatt/share"
)

const kWhUJ = 3_600_000_000_000

// hostT0 is the host time of sequence 0: now, since a record read for the
// first time counts as up only when it is recent by the guest's clock.
var hostT0 = time.Now().UTC().Truncate(time.Second)

func testRecord(seq uint64, pkgUJ, dramUJ uint64) *share.Record {
	return &share.Record{
		Schema: share.SchemaVersion, Host: "hv1", Domain: "vm1", UUID: "1234-uuid", Instance: "inst-1",
		Sequence: seq, Timestamp: hostT0.Add(time.Duration(seq) * time.Second), IntervalSeconds: 1,
		Zones: map[string]share.ZoneEnergy{
			share.ZonePackage: {UsageUJ: pkgUJ * 3 / 4, IdleUJ: pkgUJ - pkgUJ*3/4},
			share.ZoneDRAM:    {UsageUJ: dramUJ},
		},
		VCPUs: 2, CarbonIntensity: 200, CarbonIntensitySource: "test-grid", PUE: 1.5,
	}
}

// collectSink records every Sample it is given.
type collectSink struct {
	mu      sync.Mutex
	samples []measure.Sample
	closed  bool
}

func (c *collectSink) Emit(_ context.Context, s measure.Sample) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.samples = append(c.samples, s)
	return nil
}

func (c *collectSink) Close() error { c.mu.Lock(); c.closed = true; c.mu.Unlock(); return nil }

func startAgent(t *testing.T, cfg Config, opts ...Option) (*Agent, func()) {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	a, err := New(cfg, logger, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	select {
	case <-a.ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	return a, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v", err)
		}
	}
}

func testConfig(shareDir string) Config {
	cfg := Defaults()
	cfg.ShareDir = shareDir
	cfg.Listen = "127.0.0.1:0"
	cfg.PollInterval = Duration{10 * time.Millisecond}
	cfg.Estimate = false // these tests follow the share alone; estimate_test.go has the guest's estimate
	return cfg
}

// scrape returns the /metrics exposition as "name{labels}" → value.
func scrape(t *testing.T, a *Agent) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + a.listenAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

// waitFor scrapes until cond holds, failing after 10 s.
func waitFor(t *testing.T, a *Agent, what string, cond func(m map[string]float64) bool) map[string]float64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		m := scrape(t, a)
		if cond(m) {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last scrape:\n%v", what, m)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestAgentEndToEnd(t *testing.T) {
	root := t.TempDir()
	w, err := share.NewWriter(root)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	shareDir := filepath.Join(root, "vm1")
	sink := &collectSink{}
	a, stop := startAgent(t, testConfig(shareDir), WithSink(sink))

	// No share yet: up 0, missing counted, no energy invented.
	m := waitFor(t, a, "missing share counted", func(m map[string]float64) bool {
		return m[`virtwatt_share_read_errors_total{reason="missing"}`] >= 1
	})
	if m["virtwatt_share_up"] != 0 {
		t.Fatalf("share_up = %v without a share", m["virtwatt_share_up"])
	}
	for k := range m {
		if strings.HasPrefix(k, "virtwatt_vm_energy_joules_total") || strings.HasPrefix(k, "virtwatt_vm_emissions") {
			t.Fatalf("%s exported without a share", k)
		}
	}

	// The share appears with 1 kWh of package energy already on it.
	if err := w.Write("vm1", testRecord(1, kWhUJ, 0), true); err != nil {
		t.Fatal(err)
	}
	// The tree is written before the record: a poll between the two sees a
	// tree-only share for a moment. Wait for the record.
	m = waitFor(t, a, "share up from the record", func(m map[string]float64) bool {
		return m["virtwatt_share_up"] == 1 && m[`virtwatt_vm_info{domain="vm1",host="hv1",mode="record",uuid="1234-uuid"}`] == 1
	})
	if got := m[`virtwatt_vm_energy_joules_total{method="measured",model="rapl",zone="package"}`]; got != 3.6e6 {
		t.Fatalf("package energy = %v J, want 3.6e6", got)
	}
	if _, ok := m[`virtwatt_vm_power_watts{method="measured",model="rapl",zone="package"}`]; ok {
		t.Fatal("power exported from a single record")
	}
	var emissions float64 // over every part: a tree read first makes some of it unsplit
	for k, v := range m {
		if strings.HasPrefix(k, "virtwatt_vm_emissions_grams_total{part=") {
			emissions += v
		}
	}
	if got := emissions; !near(got, 1*1.5*200) {
		t.Fatalf("emissions = %v g, want 300", got)
	}
	if m[`virtwatt_carbon_intensity_grams_per_kwh{source="host:test-grid"}`] != 200 || m[`virtwatt_pue{source="host"}`] != 1.5 {
		t.Fatalf("prices not exported with their sources: %v", m)
	}
	if m[`virtwatt_vm_info{domain="vm1",host="hv1",mode="record",uuid="1234-uuid"}`] != 1 {
		t.Fatal("virtwatt_vm_info missing")
	}
	if got := m["virtwatt_share_last_update_timestamp_seconds"]; got != float64(hostT0.Add(time.Second).Unix()) {
		t.Fatalf("last update = %v", got)
	}

	// One host second later: +40 J package, +5 J dram.
	if err := w.Write("vm1", testRecord(2, kWhUJ+40_000_000, 5_000_000), true); err != nil {
		t.Fatal(err)
	}
	m = waitFor(t, a, "power", func(m map[string]float64) bool {
		_, ok := m[`virtwatt_vm_power_watts{method="measured",model="rapl",zone="package"}`]
		return ok
	})
	if got := m[`virtwatt_vm_power_watts{method="measured",model="rapl",zone="package"}`]; !near(got, 40) {
		t.Fatalf("package power = %v W, want 40", got)
	}
	if got := m[`virtwatt_vm_power_watts{method="measured",model="rapl",zone="dram"}`]; !near(got, 5) {
		t.Fatalf("dram power = %v W, want 5", got)
	}
	if got := m[`virtwatt_vm_energy_joules_total{method="measured",model="rapl",zone="package"}`]; !near(got, 3.6e6+40) {
		t.Fatalf("package energy = %v", got)
	}

	// A garbled record is counted; nothing is invented, the counters stay.
	if err := os.WriteFile(filepath.Join(shareDir, share.RecordFile), []byte("{garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	m = waitFor(t, a, "garbled counted", func(m map[string]float64) bool {
		return m[`virtwatt_share_read_errors_total{reason="garbled"}`] >= 1 && m["virtwatt_share_up"] == 0
	})
	if _, ok := m[`virtwatt_vm_power_watts{method="measured",model="rapl",zone="package"}`]; ok {
		t.Fatal("power exported from an unreadable share")
	}
	if got := m[`virtwatt_vm_energy_joules_total{method="measured",model="rapl",zone="package"}`]; !near(got, 3.6e6+40) {
		t.Fatalf("package energy changed on a garbled read: %v", got)
	}

	// The landing page answers.
	resp, err := http.Get("http://" + a.listenAddr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "/metrics") {
		t.Fatalf("landing page: %d %s", resp.StatusCode, body)
	}

	stop()
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if !sink.closed || len(sink.samples) < 3 {
		t.Fatalf("sink: closed %v, %d samples", sink.closed, len(sink.samples))
	}
}

// TestAgentStale uses a fake guest clock so that staleness is decided by
// the clock, not by the test's timing.
func TestAgentStale(t *testing.T) {
	root := t.TempDir()
	w, err := share.NewWriter(root)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var mu sync.Mutex
	now := hostT0
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	cfg := testConfig(filepath.Join(root, "vm1"))
	cfg.PollInterval = Duration{100 * time.Millisecond} // stale after max(3 × 1 s, 3 × poll) = 3 s of fake clock
	a, err := New(cfg, nil, withClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := w.Write("vm1", testRecord(1, 1_000_000, 0), false); err != nil {
		t.Fatal(err)
	}
	a.poll(ctx)
	if err := w.Write("vm1", testRecord(2, 3_000_000, 0), false); err != nil {
		t.Fatal(err)
	}
	advance(time.Second)
	if s := a.poll(ctx); !s.Up || !near(s.PowerW[share.ZonePackage], 2) {
		t.Fatalf("fresh sample = %+v", s)
	}
	advance(3 * time.Second)
	if s := a.poll(ctx); !s.Up {
		t.Fatal("down after exactly 3 intervals")
	}
	advance(10 * time.Millisecond)
	s := a.poll(ctx)
	if s.Up || s.PowerW != nil || s.ReadErrors["stale"] != 1 || s.EnergyUJ[share.ZonePackage] != 3_000_000 {
		t.Fatalf("stale sample = %+v", s)
	}
}

// TestAgentMetricsPassPromtool lints the whole /metrics page (the agent's
// metrics, Go and process collectors) with promtool when it is installed.
func TestAgentMetricsPassPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Log("promtool not in PATH: lint not run")
		return
	}
	root := t.TempDir()
	w, err := share.NewWriter(root)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Write("vm1", testRecord(1, 1_000_000, 1000), true); err != nil {
		t.Fatal(err)
	}
	a, stop := startAgent(t, testConfig(filepath.Join(root, "vm1")))
	defer stop()
	waitFor(t, a, "share up", func(m map[string]float64) bool { return m["virtwatt_share_up"] == 1 })
	resp, err := http.Get("http://" + a.listenAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = resp.Body
	out, err := cmd.CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) != 0 {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

func TestListenError(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Listen = "256.0.0.1:1"
	a, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "--web.listen-address") {
		t.Fatalf("Run = %v, want a listen error naming --web.listen-address", err)
	}
}

// TestAgentOldRecordNotUp: a record a day old by the guest's clock (a dead
// host) is not reported up, and gives no power, until the host writes again.
func TestAgentOldRecordNotUp(t *testing.T) {
	root := t.TempDir()
	w, err := share.NewWriter(root)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	now := hostT0.Add(24 * time.Hour)
	a, err := New(testConfig(filepath.Join(root, "vm1")), nil, withClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write("vm1", testRecord(1, 1_000_000, 0), false); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 3 {
		if s := a.poll(ctx); s.Up || s.PowerW != nil {
			t.Fatalf("day-old record: up %v power %v", s.Up, s.PowerW)
		}
	}
	if err := w.Write("vm1", testRecord(2, 3_000_000, 0), false); err != nil {
		t.Fatal(err)
	}
	if s := a.poll(ctx); !s.Up || !near(s.PowerW[share.ZonePackage], 2) {
		t.Fatalf("after the host wrote again: up %v power %v", s.Up, s.PowerW)
	}
}

// TestAgentStuckPollIsDown: when no poll completes (a read hung on a dead
// virtiofsd or 9p server), a scrape past the staleness limit reports the
// share down and no power, from the last Sample's age.
func TestAgentStuckPollIsDown(t *testing.T) {
	root := t.TempDir()
	w, err := share.NewWriter(root)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var mu sync.Mutex
	now := hostT0.Add(2 * time.Second)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	a, err := New(testConfig(filepath.Join(root, "vm1")), nil, withClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= 2; seq++ {
		if err := w.Write("vm1", testRecord(seq, seq*1_000_000, 0), false); err != nil {
			t.Fatal(err)
		}
		a.poll(context.Background())
	}
	gather := func() (up float64, power bool) {
		mfs, err := a.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			switch mf.GetName() {
			case "virtwatt_share_up":
				up = mf.GetMetric()[0].GetGauge().GetValue()
			case "virtwatt_vm_power_watts":
				power = true
			}
		}
		return up, power
	}
	if up, power := gather(); up != 1 || !power {
		t.Fatalf("after two fresh polls: share_up %v, power exported %v", up, power)
	}
	mu.Lock()
	now = now.Add(time.Minute) // no poll since: the loop is stuck
	mu.Unlock()
	if up, power := gather(); up != 0 || power {
		t.Fatalf("a minute without a poll: share_up %v, power exported %v; want 0 and none", up, power)
	}
}
