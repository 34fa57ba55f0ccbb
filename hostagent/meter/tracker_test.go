package meter

import (
	"reflect"
	"testing"
	"time"
)

func pkg(socket int, e, r uint64) Reading {
	return Reading{Kind: KindPackage, Socket: socket, EnergyUJ: e, MaxRangeUJ: r}
}

func dram(socket int, e, r uint64) Reading {
	return Reading{Kind: KindDRAM, Socket: socket, EnergyUJ: e, MaxRangeUJ: r}
}

// unbounded lifts r's ceiling, for tests of the wrap arithmetic alone.
func unbounded(r Reading) Reading { r.CeilingUW = ^uint64(0); return r }

func TestTracker(t *testing.T) {
	const R = 262143328850 // a real Intel package range
	type step struct {
		in   []Reading
		want []uint64 // DeltaUJ per reading, in order
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"first update is a baseline", []step{
			{[]Reading{pkg(0, 1000, R), dram(0, 50, R)}, []uint64{0, 0}},
		}},
		{"plain increase", []step{
			{[]Reading{pkg(0, 1000, R)}, []uint64{0}},
			{[]Reading{pkg(0, 1500, R)}, []uint64{500}},
			{[]Reading{pkg(0, 1500, R)}, []uint64{0}},
		}},
		{"one wrap", []step{
			{[]Reading{pkg(0, R-100, R)}, []uint64{0}},
			{[]Reading{pkg(0, 400, R)}, []uint64{500}},
			{[]Reading{pkg(0, 900, R)}, []uint64{500}},
		}},
		{"wrap to exactly zero", []step{
			{[]Reading{pkg(0, R-1, R)}, []uint64{0}},
			{[]Reading{pkg(0, 0, R)}, []uint64{1}},
		}},
		{"several sockets wrap independently", []step{
			{[]Reading{pkg(0, R-10, R), dram(0, 5, 1000), pkg(1, 100, R), dram(1, 990, 1000)}, []uint64{0, 0, 0, 0}},
			{[]Reading{pkg(0, 20, R), dram(0, 15, 1000), pkg(1, 130, R), dram(1, 4, 1000)}, []uint64{30, 10, 30, 14}},
			{[]Reading{pkg(0, 25, R), dram(0, 10, 1000), pkg(1, 131, R), dram(1, 5, 1000)}, []uint64{5, 995, 1, 1}},
		}},
		{"range 0 and a decrease: new baseline, no jump", []step{
			{[]Reading{pkg(0, 5000, 0)}, []uint64{0}},
			{[]Reading{pkg(0, 100, 0)}, []uint64{0}},
			{[]Reading{pkg(0, 160, 0)}, []uint64{60}},
		}},
		{"previous reading above range: no wrap information", []step{
			{[]Reading{pkg(0, 2000, 1000)}, []uint64{0}},
			{[]Reading{pkg(0, 10, 1000)}, []uint64{0}},
			{[]Reading{pkg(0, 30, 1000)}, []uint64{20}},
		}},
		{"current reading above range after a decrease", []step{
			{[]Reading{pkg(0, 5000, 1000)}, []uint64{0}},
			{[]Reading{pkg(0, 3000, 1000)}, []uint64{0}},
		}},
		{"largest possible range", []step{
			{[]Reading{unbounded(pkg(0, 1, ^uint64(0)))}, []uint64{0}},
			{[]Reading{unbounded(pkg(0, 0, ^uint64(0)))}, []uint64{^uint64(0) - 1}},
		}},
		{"zone appears later: baseline for it only", []step{
			{[]Reading{pkg(0, 100, R)}, []uint64{0}},
			{[]Reading{pkg(0, 150, R), dram(0, 7000, R)}, []uint64{50, 0}},
			{[]Reading{pkg(0, 160, R), dram(0, 7003, R)}, []uint64{10, 3}},
		}},
		{"zone disappears and comes back: baseline again", []step{
			{[]Reading{pkg(0, 100, R), dram(0, 10, R)}, []uint64{0, 0}},
			{[]Reading{pkg(0, 200, R)}, []uint64{100}},
			{[]Reading{pkg(0, 300, R), dram(0, 5, R)}, []uint64{100, 0}},
			{[]Reading{pkg(0, 301, R), dram(0, 9, R)}, []uint64{1, 4}},
		}},
		{"order of readings may change", []step{
			{[]Reading{pkg(0, 100, R), pkg(1, 1000, R)}, []uint64{0, 0}},
			{[]Reading{pkg(1, 1002, R), pkg(0, 101, R)}, []uint64{2, 1}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker()
			for i, s := range tt.steps {
				ds := tr.Update(s.in, 1000*time.Hour) // every step plausible: wrap rules only
				if len(ds) != len(s.in) {
					t.Fatalf("step %d: %d deltas for %d readings", i, len(ds), len(s.in))
				}
				got := make([]uint64, len(ds))
				for j, d := range ds {
					if d.Kind != s.in[j].Kind || d.Socket != s.in[j].Socket {
						t.Errorf("step %d: delta %d is %s/%d, want %s/%d", i, j, d.Kind, d.Socket, s.in[j].Kind, s.in[j].Socket)
					}
					got[j] = d.DeltaUJ
				}
				if !reflect.DeepEqual(got, s.want) {
					t.Errorf("step %d: deltas %v, want %v", i, got, s.want)
				}
			}
		})
	}
}

// Deltas over many wraps add up to the energy actually counted.
func TestTrackerConservesOverWraps(t *testing.T) {
	const R = 1000
	tr := NewTracker()
	var truth, sum uint64
	e := uint64(0)
	tr.Update([]Reading{pkg(0, e, R)}, time.Second)
	for i := 0; i < 500; i++ {
		step := uint64(i%7)*113 + 1 // always < R, so at most one wrap per tick
		truth += step
		e = (e + step) % R
		for _, d := range tr.Update([]Reading{pkg(0, e, R)}, time.Second) {
			sum += d.DeltaUJ
		}
	}
	if sum != truth {
		t.Fatalf("sum of deltas %d, want %d", sum, truth)
	}
}

func TestCounted(t *testing.T) {
	ds := []Delta{
		{Kind: KindPackage, Socket: 0, DeltaUJ: 100}, {Kind: KindCore, Socket: 0, DeltaUJ: 60}, {Kind: KindUncore, Socket: 0, DeltaUJ: 5}, {Kind: KindDRAM, Socket: 0, DeltaUJ: 10},
		{Kind: KindPackage, Socket: 1, DeltaUJ: 200}, {Kind: KindDRAM, Socket: 1, DeltaUJ: 20}, {Kind: KindPsys, Socket: 0, DeltaUJ: 400},
	}
	tests := []struct {
		name  string
		ds    []Delta
		zones []string
		want  map[string]uint64
	}{
		{"default: package and dram across sockets", ds, nil, map[string]uint64{KindPackage: 300, KindDRAM: 30}},
		{"explicit default", ds, DefaultZones(), map[string]uint64{KindPackage: 300, KindDRAM: 30}},
		{"psys as the total", ds, []string{KindPsys}, map[string]uint64{KindPsys: 400}},
		{"core and uncore never counted", ds, []string{KindPackage, KindCore, KindUncore}, map[string]uint64{KindPackage: 300}},
		{"no dram measured: no dram key", []Delta{{Kind: KindPackage, Socket: 0, DeltaUJ: 7}}, nil, map[string]uint64{KindPackage: 7}},
		{"baseline tick reports zeros", []Delta{{Kind: KindPackage, Socket: 0, DeltaUJ: 0}, {Kind: KindDRAM, Socket: 0, DeltaUJ: 0}}, nil, map[string]uint64{KindPackage: 0, KindDRAM: 0}},
		{"nothing", nil, nil, map[string]uint64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Counted(tt.ds, tt.zones); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Counted = %v, want %v", got, tt.want)
			}
		})
	}
}

func BenchmarkTrackerUpdate(b *testing.B) {
	rs := []Reading{pkg(0, 0, 1<<32), dram(0, 0, 1<<32), pkg(1, 0, 1<<32), dram(1, 0, 1<<32)}
	tr := NewTracker()
	b.ReportAllocs()
	for b.Loop() {
		for i := range rs {
			rs[i].EnergyUJ += 12345
		}
		tr.Update(rs, time.Second)
	}
}
