package selfestimate

import (
	"bytes"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/estimate"
	"github.com/virtwatt/virtwatt/guestagent/account"
	"github.com/virtwatt/virtwatt/guestagent/follow"
	"github.com/virtwatt/virtwatt/guestagent/selfestimate/fakeproc"
	"github.com/virtwatt/virtwatt/share"
)

// fakeReader returns obs, one per Read, the last one again after.
type fakeReader struct{ obs []follow.Observation }

func (r *fakeReader) Read() follow.Observation {
	o := r.obs[0]
	if len(r.obs) > 1 {
		r.obs = r.obs[1:]
	}
	return o
}

func sourceRec(seq uint64, sec float64, pkgUJ uint64) follow.Observation {
	return follow.Observation{Record: &share.Record{
		Schema: share.SchemaVersion, Host: "h", Domain: "vm", UUID: "u", Instance: "i",
		Sequence: seq, Timestamp: t0.Add(time.Duration(sec * float64(time.Second))), IntervalSeconds: 1,
		Zones: map[string]share.ZoneEnergy{share.ZonePackage: {UsageUJ: pkgUJ}},
	}}
}

// TestSourceEstimatesFromTheLastChange: the host dies after its record of
// t = 1 s; the record, unchanged, is up until stale (t = 4 s), then the
// guest estimates. The estimate covers the time since the share last
// changed (t = 1 s), not since the last poll it was still up: the host's
// last record measured up to t = 1 s, and no time is counted by neither.
func TestSourceEstimatesFromTheLastChange(t *testing.T) {
	proc := fakeProc(t)
	est, err := New(Options{ProcRoot: proc})
	if err != nil {
		t.Fatal(err)
	}
	acct := account.New(account.Options{Pricing: account.Pricing{Lookup: estimate.Lookup{Override: 100}}, PollInterval: time.Second})
	src := NewSource(&fakeReader{obs: []follow.Observation{sourceRec(1, 0, 10_000_000), sourceRec(2, 1, 12_000_000)}}, acct, est, nil)
	busy, idle := uint64(1000), uint64(3000)
	var energy uint64
	for sec := 0; sec <= 20; sec++ {
		fakeproc.SetStat(t, proc, busy, idle) // 4 vCPUs a quarter busy
		busy, idle = busy+100, idle+300
		_, s := src.Poll(t0.Add(time.Duration(sec) * time.Second))
		if s.Estimated() {
			got := s.TotalEnergyUJ() - energy
			cpuW, memW := 4*(0.64+(3.97-0.64)*0.25), 8*0.392
			// The first estimate covers t = 1 s to now.
			want := (cpuW + memW) * float64(sec-1) * 1e6
			if math.Abs(float64(got)-want) > 2 {
				t.Fatalf("first estimate at t = %d s: %d µJ, want %.0f µJ (%d s at %.3f W)", sec, got, want, sec-1, cpuW+memW)
			}
			return
		}
		energy = s.TotalEnergyUJ()
	}
	t.Fatal("never estimated")
}

// TestSourceSwitchesDoNotFlood: a share up for one poll in five (a host
// that keeps dying and coming back) switches share ↔ estimate 40 times;
// the first switches are logged, the rest at debug level, said once.
func TestSourceSwitchesDoNotFlood(t *testing.T) {
	proc := fakeProc(t)
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	est, err := New(Options{ProcRoot: proc, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	acct := account.New(account.Options{PollInterval: time.Second})
	var obs []follow.Observation
	for i := range 100 {
		if i%5 == 0 {
			obs = append(obs, sourceRec(uint64(i+1), float64(i), uint64(i+1)*1_000_000))
		} else {
			obs = append(obs, follow.Observation{Reason: follow.ReasonMissing})
		}
	}
	src := NewSource(&fakeReader{obs: obs}, acct, est, logger)
	busy, idle := uint64(1000), uint64(3000)
	switches := 0
	for sec := range 100 {
		fakeproc.SetStat(t, proc, busy, idle)
		busy, idle = busy+100, idle+300
		was := src.estimating
		src.Poll(t0.Add(time.Duration(sec) * time.Second))
		if src.estimating != was {
			switches++
		}
	}
	if switches < 20 {
		t.Fatalf("%d switches, want the share to flap", switches)
	}
	if n := strings.Count(logs.String(), "\n"); n > 8 {
		t.Fatalf("%d log lines over %d switches, want a few:\n%s", n, switches, logs.String())
	}
}
