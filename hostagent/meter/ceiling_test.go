package meter

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// A delta faster than the zone can draw is a reset, never a wrap or an
// increase: a reboot restarts the counters near 0, which the wrap rule
// alone reads as most of the range (99.6 J → 132,694 J in 7 s was seen).
func TestTrackerPlausibility(t *testing.T) {
	const R = 262143328850 // a real Intel package range
	capped := func(r Reading, w uint64) Reading { r.CeilingUW = w * 1_000_000; return r }
	type step struct {
		in        Reading
		elapsed   time.Duration
		want      uint64
		reset     bool
		discarded uint64
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"reboot near zero read as a wrap is a reset", []step{
			{pkg(0, 99_600_000, R), 0, 0, false, 0},
			{pkg(0, 50_000, R), 7 * time.Second, 0, true, R - 99_600_000 + 50_000},
			{pkg(0, 1_050_000, R), time.Second, 1_000_000, false, 0}, // counted from the new baseline
		}},
		{"a genuine wrap at high power is counted", []step{
			{pkg(0, R-1_000_000_000, R), 0, 0, false, 0},
			{pkg(0, 1_000_000_000, R), 5 * time.Second, 2_000_000_000, false, 0}, // 400 W
		}},
		{"an increase above the ceiling is a reset", []step{
			{pkg(0, 0, R), 0, 0, false, 0},
			{pkg(0, 200_000_000_000, R), time.Second, 0, true, 200_000_000_000},
		}},
		{"the ceiling plus one second of slack is the limit", []step{
			{pkg(0, 0, R), 0, 0, false, 0},
			{pkg(0, 4_000_000_000, R), time.Second, 0, true, 4_000_000_000},  // 4 kJ > 1 kW × 2 s
			{pkg(0, 6_000_000_000, R), time.Second, 2_000_000_000, false, 0}, // exactly 1 kW × 2 s
			{pkg(0, 8_000_000_001, R), time.Second, 0, true, 2_000_000_001},
		}},
		{"a stated ceiling is used", []step{
			{capped(pkg(0, 0, R), 200), 0, 0, false, 0},
			{capped(pkg(0, 500_000_000, R), 200), time.Second, 0, true, 500_000_000}, // 500 J > 200 W × 2 s
			{capped(pkg(0, 800_000_000, R), 200), time.Second, 300_000_000, false, 0},
		}},
		{"dram has its own default", []step{
			{dram(0, 0, R), 0, 0, false, 0},
			{dram(0, 1_500_000_000, R), time.Second, 0, true, 1_500_000_000}, // 1.5 kJ > 500 W × 2 s
		}},
		{"no elapsed time: only the slack", []step{
			{pkg(0, 0, R), 0, 0, false, 0},
			{pkg(0, 900_000_000, R), 0, 900_000_000, false, 0},
			{pkg(0, 2_000_000_000, R), -time.Second, 0, true, 1_100_000_000},
		}},
		{"a decrease with no range is a reset", []step{
			{pkg(0, 5000, 0), 0, 0, false, 0},
			{pkg(0, 100, 0), time.Second, 0, true, 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker()
			for i, s := range tt.steps {
				d := tr.Update([]Reading{s.in}, s.elapsed)[0]
				if d.DeltaUJ != s.want || d.Reset != s.reset || d.DiscardedUJ != s.discarded {
					t.Fatalf("step %d: delta %d reset %v discarded %d, want %d %v %d",
						i, d.DeltaUJ, d.Reset, d.DiscardedUJ, s.want, s.reset, s.discarded)
				}
			}
		})
	}
}

// Powercap ceilings come from the zone's constraints: twice the largest
// stated maximum or limit, at least MinCeilingUW; a zone stating nothing
// gets its kind's default.
func TestPowercapCeilings(t *testing.T) {
	p, err := NewPowercap(expandTree(t, "constraints.tree"))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := p.Read()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{
		KindPackage: 2 * 253_000_000, // the short-term limit, above the stated maximum
		KindCore:    MinCeilingUW,
		KindDRAM:    DefaultDRAMCeilingUW,
	}
	for _, r := range rs {
		if got := r.Ceiling(); got != want[r.Kind] {
			t.Errorf("%s: ceiling %d µW, want %d", r.Kind, got, want[r.Kind])
		}
	}
	if len(rs) != len(want) {
		t.Fatalf("%d zones, want %d", len(rs), len(want))
	}
}

// A tree without constraint files (as most fixtures) gets the defaults.
func TestPowercapDefaultCeilings(t *testing.T) {
	p, err := NewPowercap(expandTree(t, "two-sockets.tree"))
	if err != nil {
		t.Fatal(err)
	}
	rs, _ := p.Read()
	for _, r := range rs {
		if r.CeilingUW != 0 || r.Ceiling() != DefaultCeilingUW(r.Kind) {
			t.Errorf("%s/%d: ceiling %d (stated %d), want the default %d", r.Kind, r.Socket, r.Ceiling(), r.CeilingUW, DefaultCeilingUW(r.Kind))
		}
	}
}

// Intel's MSR meter takes its package ceiling from PKG_POWER_INFO (and
// PKG_POWER_LIMIT); without them, the default.
func TestMSRCeiling(t *testing.T) {
	for _, tt := range []struct {
		name string
		regs map[int64]uint64
		want uint64
	}{
		// 2400 units of 1/8 W (intelUnit's power unit is 3) = 300 W maximum.
		{"stated maximum", map[int64]uint64{msrIntelPkgInfo: 2400 << 32}, 2 * 300_000_000},
		{"nothing stated", nil, DefaultPackageCeilingUW},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newFakeHost(t, 1)
			// 0x611 and 0x614 overlap in a plain file: a counter below 2^24
			// keeps its bytes clear of PKG_POWER_INFO's (see writeMSR).
			regs := map[int64]uint64{msrIntelPowerUnit: intelUnit, msrIntelPkgEnergy: 0x1000}
			for k, v := range tt.regs {
				regs[k] = v
			}
			writeMSR(t, h.msrRoot, "0", regs)
			m, err := NewMSRWithOptions(h.opts(VendorIntel, "intel-tigerlake"))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			rs, err := m.Read()
			if err != nil {
				t.Fatal(err)
			}
			if rs[0].Kind != KindPackage || rs[0].Ceiling() != tt.want {
				t.Fatalf("%s ceiling %d µW, want %d", rs[0].Kind, rs[0].Ceiling(), tt.want)
			}
		})
	}
}

// A FIFO planted where a counter should be is refused at open, without
// blocking.
func TestPowercapFIFORefused(t *testing.T) {
	root := expandTree(t, "two-sockets.tree")
	mkfifoOver(t, filepath.Join(root, "intel-rapl:1", "energy_uj"))
	done := make(chan error, 1)
	go func() { _, err := NewPowercap(root); done <- err }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a FIFO as energy_uj was accepted")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("NewPowercap blocked on a FIFO")
	}
}

// Neither /proc/cpuinfo nor the topology files block the MSR meter's
// start when a FIFO sits there.
func TestMSRStartIgnoresFIFOs(t *testing.T) {
	h := newFakeHost(t, 2)
	writeMSR(t, h.msrRoot, "0", map[int64]uint64{msrIntelPowerUnit: intelUnit, msrIntelPkgEnergy: 0x1000})
	mkfifoOver(t, filepath.Join(h.sysRoot, "cpu1", "topology", "physical_package_id"))
	cpuinfo := filepath.Join(t.TempDir(), "cpuinfo")
	if err := syscall.Mkfifo(cpuinfo, 0o600); err != nil {
		t.Fatal(err)
	}
	o := h.opts(VendorIntel, "")
	o.CPUInfoPath = cpuinfo
	done := make(chan error, 1)
	go func() {
		m, err := NewMSRWithOptions(o)
		if err == nil {
			m.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("NewMSR blocked on a FIFO")
	}
}
