package procsplit

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestCollector(t *testing.T) {
	f := newFakeProc(t)
	f.setCPU(0, 0, 0, 0)
	f.setProc(3, 1, "db", 0, 0, 1)
	s := New(Options{ProcRoot: f.root})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s)

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != 0 {
		t.Fatalf("before any split: %d families, want none", len(mfs))
	}

	s.Tick(t0, 0)
	f.setProc(3, 1, "db", 30, 0, 1)
	f.setCPU(30, 0, 70, 0)
	if _, err := s.Tick(t0.Add(time.Second), 2_000_000); err != nil {
		t.Fatal(err)
	}
	mfs, err = reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			switch {
			case m.GetGauge() != nil:
				got[key] = m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				got[key] = m.GetCounter().GetValue()
			}
		}
	}
	want := map[string]float64{
		"virtwatt_process_power_watts,comm=db,pid=3":   0.6,
		"virtwatt_process_energy_joules_total,comm=db": 0.6,
		"virtwatt_guest_idle_energy_joules_total":      1.4,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
}
