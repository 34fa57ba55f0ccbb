package track

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/guestagent/measure"
)

// TestShareVanishedBeforeTheEnd: the share read at the start, updated
// during the run, then gone just before its end (the end read fails
// within the staleness limit, before the guest estimates): the energy up
// to its last update is known, as a lower bound, not unknown; an end read
// that returned nothing (a hung read) stays unknown.
func TestShareVanishedBeforeTheEnd(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	s0 := measure.Sample{EnergyUJ: map[string]uint64{"package": 1_000_000}, LastUpdate: t0, Up: true, Mode: "record"}
	s1 := measure.Sample{EnergyUJ: map[string]uint64{"package": 9_000_000}, LastUpdate: t0.Add(8 * time.Second), Mode: "record"}
	gone := errors.New("reading the share: share dir holds neither virtwatt.json nor intel-rapl:0/energy_uj")
	e := energyOf(s0, s1, nil, gone)
	if !e.Known || !e.Stale || e.TotalUJ != 8_000_000 {
		t.Fatalf("energy %+v, want 8 J known as a lower bound", e)
	}
	if e := energyOf(s0, measure.Sample{}, nil, errSampleTimeout); e.Known {
		t.Fatalf("a hung end read: %+v, want unknown", e)
	}
}

// TestShareAppearsDuringTheRun: the run starts on the guest's estimate
// and ends on the share (or the other way round); the host's clock runs
// 30 s behind the guest's. The energy is known: the two ends are on two
// clocks, so their times say nothing of an update in between.
func TestShareAppearsDuringTheRun(t *testing.T) {
	guest := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	host := guest.Add(-30 * time.Second)
	est := measure.Sample{Time: guest, Mode: measure.ModeEstimate, EnergyUJ: map[string]uint64{"package": 1_000_000}}
	rec := measure.Sample{Time: guest.Add(10 * time.Second), LastUpdate: host.Add(10 * time.Second), Up: true, Mode: "record",
		EnergyUJ: map[string]uint64{"package": 4_000_000}}
	if e := energyOf(est, rec, nil, nil); !e.Known || e.TotalUJ != 3_000_000 {
		t.Fatalf("estimate → share: %+v, want 3 J known", e)
	}
	rec.Time, rec.LastUpdate = guest, host
	est.Time = guest.Add(10 * time.Second)
	est.EnergyUJ = map[string]uint64{"package": 6_000_000}
	if e := energyOf(rec, est, nil, nil); !e.Known || e.TotalUJ != 2_000_000 {
		t.Fatalf("share → estimate: %+v, want 2 J known", e)
	}
}

// TestSummaryWindowSaysItsClock: a run on the guest's estimate does not
// call its window host time.
func TestSummaryWindowSaysItsClock(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	s0 := measure.Sample{Time: t0, Mode: measure.ModeEstimate, EnergyUJ: map[string]uint64{"package": 1_000_000}}
	s1 := measure.Sample{Time: t0.Add(2 * time.Second), Mode: measure.ModeEstimate, EnergyUJ: map[string]uint64{"package": 3_000_000}}
	var b strings.Builder
	Result{Argv: []string{"true"}, Energy: energyOf(s0, s1, nil, nil), AttributionNote: "n/a"}.WriteSummary(&b)
	if strings.Contains(b.String(), "host time") || !strings.Contains(b.String(), "2.000 s of the guest's clock") {
		t.Fatalf("estimated run's window:\n%s", b.String())
	}
}
