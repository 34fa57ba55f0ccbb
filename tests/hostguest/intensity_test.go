package hostguest

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/share"
	"github.com/virtwatt/virtwatt/tests/testbin"
)

// seen is one record of a VM's share as the test read it.
type seen struct {
	totalUJ   uint64 // Σ counted zones, usage + idle
	intensity float64
	pue       float64
}

// recordLog reads a share's record every few milliseconds, keeping each
// sequence number once: the host's record history, to price by hand.
type recordLog struct {
	mu   sync.Mutex
	recs map[uint64]seen
	inst string
}

func (l *recordLog) run(dir string, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		if r, err := share.ReadRecord(dir); err == nil {
			var tot uint64
			for _, z := range r.Zones {
				tot += z.TotalUJ()
			}
			l.mu.Lock()
			if l.inst == "" {
				l.inst = r.Instance
			}
			if r.Instance == l.inst {
				l.recs[r.Sequence] = seen{tot, r.CarbonIntensity, r.PUE}
			}
			l.mu.Unlock()
		}
		time.Sleep(3 * time.Millisecond)
	}
}

func (l *recordLog) lastIntensity() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var last uint64
	for s := range l.recs {
		last = max(last, s)
	}
	return l.recs[last].intensity
}

// TestLiveIntensityPricesEachTick: virtwatt-host polls a local HTTP server
// in Electricity Maps' carbon-intensity/latest shape (auth-token header
// from a file) whose value changes twice mid-run; every record carries
// the value in force at its tick, and virtwatt-guest's emissions equal
// Σ energy delta × PUE × intensity of the record it arrived in, over the
// host's record history.
func TestLiveIntensityPricesEachTick(t *testing.T) {
	dir := t.TempDir() // the auth file's
	var value atomic.Int64
	value.Store(100)
	var served, denied atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("auth-token") != "tok-e2e" || r.URL.Path != "/v3/carbon-intensity/latest" || r.URL.Query().Get("zone") != "DE" {
			denied.Add(1)
			http.Error(w, `{"status":"error","message":"Invalid authentication token"}`, http.StatusUnauthorized)
			return
		}
		served.Add(1)
		hour := time.Now().UTC().Truncate(time.Hour)
		fmt.Fprintf(w, `{"zone":"DE","carbonIntensity":%d,"datetime":%q,"updatedAt":%q,"createdAt":%q,`+
			`"emissionFactorType":"lifecycle","isEstimated":true,"estimationMethod":"TIME_SLICER_AVERAGE"}`,
			value.Load(), hour.Format(time.RFC3339), time.Now().UTC().Format(time.RFC3339Nano), hour.Add(-72*time.Hour).Format(time.RFC3339))
	}))
	defer srv.Close()
	auth := filepath.Join(dir, "em.token")
	if err := os.WriteFile(auth, []byte("# Electricity Maps\nauth-token: tok-e2e\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	const interval = 500 * time.Millisecond
	p := startHost(t, interval, "--pue", "1.5", "--carbon-intensity", "999",
		"--carbon-intensity-url", srv.URL+"/v3/carbon-intensity/latest?zone=DE", "--carbon-intensity-auth-file", auth,
		"--carbon-intensity-refresh", "1s")
	hostAddr, guestAddr, shareDir := p.hostAddr, p.guestAddr, p.share
	rl := &recordLog{recs: map[uint64]seen{}}
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() { rl.run(shareDir, stop); close(watched) }()
	defer func() { close(stop); <-watched }()
	testbin.WaitFor(t, "a record", 10*time.Second, func() bool { return rl.lastIntensity() != 0 })
	if got := rl.lastIntensity(); got != 100 {
		t.Fatalf("the first records carry %v g/kWh, want the server's 100 (read before the first tick), not the constant", got)
	}

	p.startGuest(t, 100*time.Millisecond)

	for _, v := range []int64{400, 250} {
		time.Sleep(3 * interval)
		value.Store(v)
		testbin.WaitFor(t, fmt.Sprintf("records at %d g/kWh", v), 10*time.Second, func() bool { return rl.lastIntensity() == float64(v) })
	}
	time.Sleep(3 * interval)

	h := testbin.Scrape(t, hostAddr)
	src := `source="url:` + srv.URL + `/v3/carbon-intensity/latest",zone="DE"`
	if got := h[`virtwatt_host_carbon_intensity_grams_per_kwh{`+src+`}`]; got != 250 {
		t.Errorf("host gauge {%s} = %v, want 250", src, got)
	}
	if age, ok := h["virtwatt_host_carbon_intensity_age_seconds"]; !ok || age < 0 || age > 3600+60 {
		t.Errorf("age = %v (exported %v), want 0..1h: the value is the current hour's", age, ok)
	}
	if n := h[`virtwatt_errors_total{stage="intensity"}`]; n != 0 {
		t.Errorf("errors_total{stage=intensity} = %v", n)
	}
	testbin.CheckMetrics(t, "virtwatt-host", get(t, "http://"+hostAddr+"/metrics"))
	if denied.Load() != 0 || served.Load() < 4 {
		t.Fatalf("served %d, denied %d: the auth header or the polling is wrong", served.Load(), denied.Load())
	}

	// Stop the host: its last record stays; the guest converges on it.
	p.stopHost(t)
	time.Sleep(time.Second) // > several guest polls, and the watcher's
	g := testbin.Scrape(t, guestAddr)

	rl.mu.Lock()
	seqs := make([]uint64, 0, len(rl.recs))
	for s := range rl.recs {
		seqs = append(seqs, s)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	// Priced by hand: the energy at the first record at its intensity
	// (the guest started before the first change, so whichever record it
	// saw first was at 100), then each delta at its record's.
	first := rl.recs[seqs[0]]
	kwh := func(uj uint64) float64 { return float64(uj) / 3.6e12 }
	want := kwh(first.totalUJ) * first.pue * first.intensity
	intensities := map[float64]int{}
	for i := 1; i < len(seqs); i++ {
		prev, cur := rl.recs[seqs[i-1]], rl.recs[seqs[i]]
		if seqs[i] != seqs[i-1]+1 && prev.intensity != cur.intensity {
			rl.mu.Unlock()
			t.Fatalf("the test missed records %d..%d across an intensity change (%v → %v): the machine is too loaded to check",
				seqs[i-1]+1, seqs[i]-1, prev.intensity, cur.intensity)
		}
		want += kwh(cur.totalUJ-prev.totalUJ) * cur.pue * cur.intensity
		intensities[cur.intensity]++
	}
	rl.mu.Unlock()
	if len(intensities) != 3 {
		t.Fatalf("records carried %v, want 100, 400 and 250", intensities)
	}
	got, n := testbin.Sum(g, "virtwatt_vm_emissions_grams_total")
	embodied, _ := testbin.Sum(g, "virtwatt_vm_emissions_grams_total", `part="embodied"`)
	got -= embodied
	if n == 0 || math.Abs(got-want) > want*1e-9 {
		t.Fatalf("guest emissions %.12f g, want Σ ΔE × PUE × intensity of its record = %.12f g (flat at the last: %.12f g)",
			got, want, kwh(rl.recs[seqs[len(seqs)-1]].totalUJ)*1.5*250)
	}
	if gi, n := testbin.Sum(g, "virtwatt_carbon_intensity_grams_per_kwh", `url:`+srv.URL); gi != 250 || n != 1 {
		t.Errorf("guest intensity from the host's live source: %v (%d series), want 250", gi, n)
	}
}
