package hostagent

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/virtwatt/virtwatt/hostagent/intensity"
	"github.com/virtwatt/virtwatt/hostagent/state"
	"github.com/virtwatt/virtwatt/share"
)

// liveIntensity is a live source the test sets between ticks.
type liveIntensity struct {
	mu sync.Mutex
	v  intensity.Value
}

func (l *liveIntensity) set(v intensity.Value) { l.mu.Lock(); l.v = v; l.mu.Unlock() }
func (l *liveIntensity) Current() intensity.Value {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.v
}

// TestRecordsCarryTheTickIntensity: every record of a tick carries the
// intensity in force at that tick — value, source, zone and time — and
// the next tick's records the new one after the source changed; the
// endpoint shows it with its age; promtool accepts the families.
func TestRecordsCarryTheTickIntensity(t *testing.T) {
	cfg := testConfig(t)
	cfg.CarbonIntensity = 450 // the constant: not what a live source's records say
	h := newFakeHost(5, 3)
	live := &liveIntensity{}
	src := h.sources()
	src.Intensity = live
	w, err := share.NewWriter(cfg.ShareRoot)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	a, err := New(cfg, src, w, state.New(), nil, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	published := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC).Add(-3 * time.Hour) // the fake host's clock starts at 0:00
	values := []intensity.Value{
		{GramsPerKWh: 302, Source: "electricitymaps:DE", Zone: "DE", Time: published},
		{GramsPerKWh: 302, Source: "electricitymaps:DE", Zone: "DE", Time: published},
		{GramsPerKWh: 150.5, Source: "electricitymaps:DE", Zone: "DE", Time: published.Add(time.Hour)},
		{GramsPerKWh: 41, Source: "file:/run/ci.csv", Zone: "FR", Time: published.Add(2 * time.Hour)},
	}
	for i, v := range values {
		live.set(v)
		h.advance(time.Second)
		if !a.Tick(context.Background()) {
			t.Fatalf("tick %d did not split", i)
		}
		for _, d := range h.doms {
			rec, err := share.ReadRecord(filepath.Join(cfg.ShareRoot, d.Name))
			if err != nil {
				t.Fatal(err)
			}
			if rec.CarbonIntensity != v.GramsPerKWh || rec.CarbonIntensitySource != v.Source ||
				rec.CarbonIntensityZone != v.Zone || !rec.CarbonIntensityTime.Equal(v.Time) {
				t.Fatalf("tick %d, %s: record carries %v %q %q %v, want %+v", i, d.Name,
					rec.CarbonIntensity, rec.CarbonIntensitySource, rec.CarbonIntensityZone, rec.CarbonIntensityTime, v)
			}
		}
		if got := a.Intensity(); got != v {
			t.Fatalf("tick %d: Intensity() = %+v, want %+v", i, got, v)
		}
	}
	reg, err := newRegistry(a, NewObserver())
	if err != nil {
		t.Fatal(err)
	}
	text := gatherText(t, reg)
	last := values[len(values)-1]
	age := h.Now().Sub(last.Time).Seconds()
	for _, want := range []string{
		`virtwatt_host_carbon_intensity_grams_per_kwh{source="file:/run/ci.csv",zone="FR"} 41` + "\n",
		"virtwatt_host_carbon_intensity_age_seconds " + strconv.FormatFloat(age, 'g', -1, 64) + "\n",
		`virtwatt_errors_total{stage="intensity"} 0`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if n := strings.Count(text, "virtwatt_host_carbon_intensity_grams_per_kwh{"); n != 1 {
		t.Errorf("%d intensity series, want the one in force", n)
	}
	promtoolCheck(t, text)
}

// promtoolCheck runs promtool check metrics on text (when installed; CI
// requires it).
func promtoolCheck(t *testing.T, text string) {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("VIRTWATT_REQUIRE_TOOLS") != "" {
			t.Fatal("promtool not found and VIRTWATT_REQUIRE_TOOLS is set")
		}
		t.Log("promtool not installed: lint step not run")
		return
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestConstantIntensityHasNoAge: without a live source the records carry
// the configured constant as before ("host"), the gauge shows it and no
// age is exported; with none configured, no intensity series at all.
func TestConstantIntensityHasNoAge(t *testing.T) {
	for _, g := range []float64{0, 56} {
		cfg := testConfig(t)
		cfg.CarbonIntensity = g
		h := newFakeHost(6, 1)
		a := newTestAgent(t, cfg, h, state.New())
		h.advance(time.Second)
		a.Tick(context.Background())
		rec, err := share.ReadRecord(filepath.Join(cfg.ShareRoot, h.doms[0].Name))
		if err != nil {
			t.Fatal(err)
		}
		wantSrc := map[float64]string{0: "", 56: "host"}[g]
		if rec.CarbonIntensity != g || rec.CarbonIntensitySource != wantSrc || rec.CarbonIntensityZone != "" || !rec.CarbonIntensityTime.IsZero() {
			t.Fatalf("constant %v: record %v %q %q %v", g, rec.CarbonIntensity, rec.CarbonIntensitySource, rec.CarbonIntensityZone, rec.CarbonIntensityTime)
		}
		reg, err := newRegistry(a, NewObserver())
		if err != nil {
			t.Fatal(err)
		}
		text := gatherText(t, reg)
		if strings.Contains(text, "virtwatt_host_carbon_intensity_age_seconds ") {
			t.Errorf("constant %v: an age is exported", g)
		}
		has := strings.Contains(text, `virtwatt_host_carbon_intensity_grams_per_kwh{source="host",zone=""} 56`)
		if has != (g > 0) {
			t.Errorf("constant %v: gauge shown = %v", g, has)
		}
	}
}

// TestLiveIntensityRefusalsCounted: readings the source refuses count in
// virtwatt_errors_total{stage="intensity"}, and the constant serves
// until a reading is good.
func TestLiveIntensityRefusalsCounted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ci.json")
	if err := os.WriteFile(path, []byte(`{"carbonIntensity": NaN}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.CarbonIntensity, cfg.CarbonIntensityFile = 250, path
	obs := NewObserver()
	src, run, err := openIntensity(context.Background(), cfg, obs, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(obs.errors.WithLabelValues("intensity")); got != 1 {
		t.Fatalf("errors_total{stage=intensity} = %v, want 1", got)
	}
	if v := src.Current(); v.GramsPerKWh != 250 || v.Source != "host" {
		t.Fatalf("before a good reading: %+v, want the constant", v)
	}
	if err := os.WriteFile(path, []byte(`{"zone":"SE-SE3","carbonIntensity":17}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.CarbonIntensityRefresh = time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	src, run, err = openIntensity(ctx, cfg, obs, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	go run(ctx)
	if v := src.Current(); v.GramsPerKWh != 17 || v.Zone != "SE-SE3" || v.Source != "file:"+path {
		t.Fatalf("after a good reading: %+v", v)
	}
}

// TestIntensityKeys: the keys parse from TOML and flags, and a bad one
// stops the start naming the key.
func TestIntensityKeys(t *testing.T) {
	p := writeFile(t, "carbon_intensity_url = \"https://api.electricitymaps.com/v3/carbon-intensity/latest?zone=DE\"\n"+
		"carbon_intensity_auth_file = \"/etc/virtwatt/em.token\"\ncarbon_intensity_refresh = \"10m\"\n")
	cfg, err := ParseConfig([]string{"--config", p}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CarbonIntensityURL == "" || cfg.CarbonIntensityAuthFile != "/etc/virtwatt/em.token" || cfg.CarbonIntensityRefresh != 10*time.Minute {
		t.Fatalf("keys: %+v", cfg)
	}
	cfg, err = ParseConfig([]string{"--carbon-intensity-file", "/run/ci.csv", "--carbon-intensity-refresh", "15s"}, nil)
	if err != nil || cfg.CarbonIntensityFile != "/run/ci.csv" || cfg.CarbonIntensityRefresh != 15*time.Second {
		t.Fatalf("flags: %+v %v", cfg, err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--carbon-intensity-url", "api.electricitymaps.com/v3"}, "config key carbon_intensity_url"},
		{[]string{"--carbon-intensity-url", "https://x/", "--carbon-intensity-file", "/a"}, "set one"},
		{[]string{"--carbon-intensity-auth-file", "/a"}, "config key carbon_intensity_auth_file"},
		{[]string{"--carbon-intensity-file", "/a", "--carbon-intensity-refresh", "1ms"}, "config key carbon_intensity_refresh"},
		{[]string{"--carbon-intensity", "3000"}, "carbon_intensity"},
	} {
		if _, err := ParseConfig(c.args, nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error with %q", c.args, err, c.want)
		}
	}
}
