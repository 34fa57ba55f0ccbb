package attribution

import "testing"

// The worked tick of DESIGN.md under the power curve: a static energy of
// 40 J (40 W over 1 s), so S = 40 J and D = 60 J. Usage by busy time over
// B = 1.5 s: a 60×1.0/1.5 = 40 J, b 60×0.2/1.5 = 8 J, host processes
// 60×0.3/1.5 = 12 J.
func TestSplitCurveTable(t *testing.T) {
	ab := []string{"a", "b"}
	curve := func(staticUJ uint64) Tick {
		tk := designTick()
		tk.Model, tk.StaticUJ = ModelCurve, staticUJ
		return tk
	}
	idleOnly := curve(40 * joule)
	idleOnly.BusyNS = 0
	idleOnly.VMs[0].VCPUTimeNS, idleOnly.VMs[1].VCPUTimeNS = 0, 0
	tests := []struct {
		name   string
		policy Policy
		tick   Tick
		want   []Share
		host   uint64
		static uint64
	}{
		// S by vCPUs over max(3, 2): a 26.666667 J, b 13.333333 J.
		{"vcpus", Policy{IdleVCPUs, OverheadVM}, curve(40 * joule),
			[]Share{{40_000_000, 26_666_667}, {8_000_000, 13_333_333}}, 12_000_000, 40 * joule},
		// S by usage over B: a 40/1.5, b 40×0.2/1.5, host 40×0.3/1.5 = 8 J.
		{"busy", Policy{IdleBusy, OverheadVM}, curve(40 * joule),
			[]Share{{40_000_000, 26_666_667}, {8_000_000, 5_333_333}}, 20_000_000, 40 * joule},
		{"host", Policy{IdleHost, OverheadVM}, curve(40 * joule),
			[]Share{{40_000_000, 0}, {8_000_000, 0}}, 52_000_000, 40 * joule},
		// The curve's static energy above what was measured: all of E is
		// static, nothing dynamic.
		{"static above E", Policy{IdleVCPUs, OverheadVM}, curve(150 * joule),
			[]Share{{0, 66_666_667}, {0, 33_333_333}}, 0, 100 * joule},
		// No static energy (a 0 W idle): all of E is dynamic, by busy time.
		{"no static", Policy{IdleVCPUs, OverheadVM}, curve(0),
			[]Share{{66_666_667, 0}, {13_333_333, 0}}, 20_000_000, 0},
		// Nothing busy: the dynamic 60 J has no VM to go to.
		{"nothing busy", Policy{IdleVCPUs, OverheadVM}, idleOnly,
			[]Share{{0, 26_666_667}, {0, 13_333_333}}, 60_000_000, 40 * joule},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := NewZoneSplitter(tc.policy).Split(tc.tick, ab)
			for i, w := range tc.want {
				if res.VMs[i] != w {
					t.Errorf("VM %s: %+v, want %+v", ab[i], res.VMs[i], w)
				}
			}
			if res.HostUJ != tc.host || res.StaticUJ != tc.static {
				t.Errorf("host %d µJ, static %d µJ; want %d, %d", res.HostUJ, res.StaticUJ, tc.host, tc.static)
			}
		})
	}
}
