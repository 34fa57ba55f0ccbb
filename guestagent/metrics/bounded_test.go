package metrics

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/virtwatt/virtwatt/guestagent/account"
	"github.com/virtwatt/virtwatt/guestagent/follow"
	"github.com/virtwatt/virtwatt/share"
)

// TestHostileShareKeepsMetricsBounded drives the real reader, accountant
// and collector over a share whose record carries 1,000 new zone names
// on every write (and overlong strings): /metrics keeps a bounded number
// of series and bytes, and the reads are counted as garbled.
func TestHostileShareKeepsMetricsBounded(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Now().UTC().Truncate(time.Second)
	acct := account.New(account.Options{PollInterval: time.Second})
	c := New()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	const writes = 20
	for w := range writes {
		zones := map[string]share.ZoneEnergy{share.ZonePackage: {UsageUJ: uint64(1+w) * 1_000_000}}
		for i := range 1000 {
			zones[fmt.Sprintf("w%dz%d", w, i)] = share.ZoneEnergy{UsageUJ: 1}
		}
		rec := share.Record{
			Schema: share.SchemaVersion, Host: string(bytes.Repeat([]byte("h"), 20_000)), Domain: "vm", UUID: "u",
			Instance: "i", Sequence: uint64(1 + w), Timestamp: t0.Add(time.Duration(w) * time.Second), IntervalSeconds: 1,
			Zones: zones,
		}
		b, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > share.MaxFileSize {
			t.Fatalf("record %d bytes: over the reader's limit, the test would prove nothing", len(b))
		}
		if err := os.WriteFile(filepath.Join(dir, share.RecordFile), b, 0o644); err != nil {
			t.Fatal(err)
		}
		obs := follow.Reader{Dir: dir}.Read()
		if !obs.OK() {
			t.Fatalf("write %d: %v", w, obs.Err)
		}
		c.Update(acct.Observe(t0.Add(time.Duration(w)*time.Second), obs))
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := 0
	var out bytes.Buffer
	for _, mf := range mfs {
		series += len(mf.GetMetric())
		if _, err := expfmt.MetricFamilyToText(&out, mf); err != nil {
			t.Fatal(err)
		}
		if mf.GetName() == "virtwatt_vm_energy_joules_total" && len(mf.GetMetric()) != 1 {
			t.Errorf("%d energy series, want package only", len(mf.GetMetric()))
		}
		if mf.GetName() == "virtwatt_share_read_errors_total" {
			for _, m := range mf.GetMetric() {
				if m.GetLabel()[0].GetValue() == follow.ReasonGarbled && m.GetCounter().GetValue() != writes {
					t.Errorf("garbled = %v, want %d (every read dropped zones)", m.GetCounter().GetValue(), writes)
				}
			}
		}
	}
	// Fixed families: up, 9 read-error reasons, info, last update, energy,
	// power, emissions, water, intensity, pue, wue: about 20 in all, each
	// zone-labelled family at most len(share.KnownZones).
	if maxSeries := 20 + 2*len(share.KnownZones); series > maxSeries {
		t.Errorf("%d series on /metrics after %d hostile writes, want at most %d", series, writes, maxSeries)
	}
	if out.Len() > 8<<10 {
		t.Errorf("/metrics is %d bytes, want under 8 KiB", out.Len())
	}
}

// TestLastUpdateFarFuture: a record stamped in year 9999 exports that
// time, not an overflowed one.
func TestLastUpdateFarFuture(t *testing.T) {
	s := upSample()
	s.LastUpdate = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
	c := New()
	c.SetClock(func() time.Time { return s.Time })
	c.Update(s)
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "virtwatt_share_last_update_timestamp_seconds" {
			if got, want := mf.GetMetric()[0].GetGauge().GetValue(), float64(s.LastUpdate.Unix()); got != want {
				t.Fatalf("last update = %v, want %v", got, want)
			}
			return
		}
	}
	t.Fatal("no last update metric")
}

// TestPowerModelFollowsTheEnergyCap: past account.MaxProvenances models,
// the power's model label is the one its energy is counted under
// (account.ModelOther), not each new model the host names.
func TestPowerModelFollowsTheEnergyCap(t *testing.T) {
	acct := account.New(account.Options{PollInterval: time.Second})
	c := New()
	now := time.Now().UTC().Truncate(time.Second)
	c.SetClock(func() time.Time { return now })
	for i := range 20 {
		r := &share.Record{Schema: share.SchemaVersion, Host: "h", Domain: "d", UUID: "u", Instance: "i",
			Sequence: uint64(i + 1), Timestamp: now.Add(time.Duration(i-20) * time.Second), IntervalSeconds: 1,
			Zones:  map[string]share.ZoneEnergy{share.ZonePackage: {UsageUJ: uint64(i+1) * 1_000_000}},
			Method: share.MethodEstimated, Model: fmt.Sprintf("m%d", i)}
		c.Update(acct.Observe(now.Add(time.Duration(i-19)*time.Second), follow.Observation{Record: r}))
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "virtwatt_vm_power_watts" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "model" && l.GetValue() != account.ModelOther {
					t.Fatalf("power model %q past the cap, want %q", l.GetValue(), account.ModelOther)
				}
			}
		}
		return
	}
	t.Fatal("no power exported")
}
