package attribution

import (
	"testing"
)

const (
	second = uint64(1e9) // ns
	joule  = uint64(1e6) // µJ
)

// designTick is the worked tick of DESIGN.md: 2 host CPUs, 1 s (C = 2 s),
// E = 100 J, B = 1.5 s; VM a has 2 vCPUs and 1.0 s, VM b 1 vCPU and 0.2 s.
func designTick() Tick {
	return Tick{
		EnergyUJ:   100 * joule,
		CapacityNS: 2 * second,
		BusyNS:     3 * second / 2,
		HostCPUs:   2,
		VMs: []VM{
			{VCPUTimeNS: 1 * second, VCPUs: 2},
			{VCPUTimeNS: second / 5, VCPUs: 1},
		},
	}
}

func TestSplitTable(t *testing.T) {
	ab := []string{"a", "b"}
	fourCPU := designTick()
	fourCPU.CapacityNS, fourCPU.HostCPUs = 4*second, 4
	overhead := designTick()
	overhead.VMs[0].VCPUTimeNS, overhead.VMs[0].OverheadNS = 8*second/10, 2*second/10

	tests := []struct {
		name   string
		policy Policy
		tick   Tick
		keys   []string
		want   []Share
		host   uint64
	}{
		// usage a 50 J, b 10 J, host processes 15 J, idle 25 J.
		{"design/host", Policy{IdleHost, OverheadVM}, designTick(), ab,
			[]Share{{50_000_000, 0}, {10_000_000, 0}}, 40_000_000},
		// idle 25 J by 2/3 and 1/3: a 16.666667 J, b 8.333333 J; the thirds
		// round so that the sum closes (a holds the larger remainder).
		{"design/vcpus", Policy{IdleVCPUs, OverheadVM}, designTick(), ab,
			[]Share{{50_000_000, 16_666_667}, {10_000_000, 8_333_333}}, 15_000_000},
		// idle by usage over B: a 25×1/1.5, b 25×0.2/1.5, host 25×0.3/1.5 = 5 J.
		{"design/busy", Policy{IdleBusy, OverheadVM}, designTick(), ab,
			[]Share{{50_000_000, 16_666_667}, {10_000_000, 3_333_333}}, 20_000_000},
		// 4 CPUs, 1 s: C = 4 s; usage a 25 J, b 5 J, host processes 7.5 J,
		// idle 62.5 J by 2/4, 1/4 and 1/4 kept by the host.
		{"design/vcpus/4cpu", Policy{IdleVCPUs, OverheadVM}, fourCPU, ab,
			[]Share{{25_000_000, 31_250_000}, {5_000_000, 15_625_000}}, 23_125_000},
		// Overhead charged to the VM: same as the design tick.
		{"overhead/vm", Policy{IdleHost, OverheadVM}, overhead, ab,
			[]Share{{50_000_000, 0}, {10_000_000, 0}}, 40_000_000},
		// Overhead counted as host processes: a's usage is 0.8 s → 40 J.
		{"overhead/host", Policy{IdleHost, OverheadHost}, overhead, ab,
			[]Share{{40_000_000, 0}, {10_000_000, 0}}, 50_000_000},
		// busy with overhead to host: B stays 1.5 s; a 100×0.8/1.5, b 100×0.2/1.5.
		{"overhead/host/busy", Policy{IdleBusy, OverheadHost}, overhead, ab,
			[]Share{{40_000_000, 13_333_333}, {10_000_000, 3_333_333}}, 33_333_334},
		// Σv = 1.8 s > B = 1 s: B becomes 1.8 s; busy gives a 100×1/1.8, b 100×.8/1.8.
		{"clamp/busy-below-sum", Policy{IdleBusy, OverheadVM}, Tick{
			EnergyUJ: 100 * joule, CapacityNS: 2 * second, BusyNS: second, HostCPUs: 2,
			VMs: []VM{{VCPUTimeNS: second, VCPUs: 1}, {VCPUTimeNS: 8 * second / 10, VCPUs: 1}},
		}, ab, []Share{{50_000_000, 5_555_556}, {40_000_000, 4_444_444}}, 0},
		// Σv = 3 s > C = 2 s: scaled to 2/3 and 1/3 of E, no idle, host nothing.
		{"clamp/sum-above-capacity", Policy{IdleVCPUs, OverheadVM}, Tick{
			EnergyUJ: 100 * joule, CapacityNS: 2 * second, BusyNS: 2 * second, HostCPUs: 2,
			VMs: []VM{{VCPUTimeNS: 2 * second, VCPUs: 2}, {VCPUTimeNS: second, VCPUs: 1}},
		}, ab, []Share{{66_666_667, 0}, {33_333_333, 0}}, 0},
		{"zero-energy", Policy{IdleVCPUs, OverheadVM}, func() Tick { t := designTick(); t.EnergyUJ = 0; return t }(), ab,
			[]Share{{}, {}}, 0},
		{"zero-capacity", Policy{IdleVCPUs, OverheadVM}, func() Tick { t := designTick(); t.CapacityNS = 0; return t }(), ab,
			[]Share{{}, {}}, 100 * joule},
		{"no-vms", Policy{IdleVCPUs, OverheadVM}, Tick{EnergyUJ: 7, CapacityNS: second, BusyNS: second / 2, HostCPUs: 1},
			nil, []Share{}, 7},
		// A stopped VM (0 vCPUs, no time) gets nothing; a's idle is 2/max(2,2).
		{"vm-with-0-vcpus", Policy{IdleVCPUs, OverheadVM}, Tick{
			EnergyUJ: 100 * joule, CapacityNS: 2 * second, BusyNS: second, HostCPUs: 2,
			VMs: []VM{{VCPUTimeNS: second, VCPUs: 2}, {}},
		}, ab, []Share{{50_000_000, 50_000_000}, {}}, 0},
		// Busy beyond capacity is clamped to C: no idle at all.
		{"clamp/busy-above-capacity", Policy{IdleVCPUs, OverheadVM}, Tick{
			EnergyUJ: 10, CapacityNS: 2 * second, BusyNS: 3 * second, HostCPUs: 2,
			VMs: []VM{{VCPUTimeNS: second, VCPUs: 2}},
		}, []string{"a"}, []Share{{5, 0}}, 5},
		// Missing keys: still conserving, rounded without carry.
		{"missing-keys", Policy{IdleVCPUs, OverheadVM}, designTick(), nil,
			[]Share{{50_000_000, 16_666_667}, {10_000_000, 8_333_333}}, 15_000_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewZoneSplitter(tt.policy)
			got := s.Split(tt.tick, tt.keys)
			if len(got.VMs) != len(tt.want) {
				t.Fatalf("got %d shares, want %d", len(got.VMs), len(tt.want))
			}
			sum := got.HostUJ
			for i, w := range tt.want {
				if got.VMs[i] != w {
					t.Errorf("VM %d: got %+v, want %+v", i, got.VMs[i], w)
				}
				sum += got.VMs[i].TotalUJ()
			}
			if got.HostUJ != tt.host {
				t.Errorf("host: got %d, want %d", got.HostUJ, tt.host)
			}
			if sum != tt.tick.EnergyUJ {
				t.Errorf("Σ = %d, want E = %d", sum, tt.tick.EnergyUJ)
			}
		})
	}
}
