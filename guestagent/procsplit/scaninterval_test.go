package procsplit

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A Splitter with a scan interval scans only when the interval has passed
// (a deferred tick reads nothing from /proc), splits the waiting energy
// with the next scan, and Σ per-command energy + idle + pending equals the
// VM's energy at every tick, with nothing pending after a scan.
func TestScanIntervalDefersAndConserves(t *testing.T) {
	for _, tc := range []struct {
		name       string
		interval   time.Duration
		wantSplits uint64
	}{
		{"every tick", 0, 20},
		{"1s is every tick", time.Second, 20},
		{"3s", 3 * time.Second, 6},
		{"5s", 5 * time.Second, 4},
		{"longer than the run", time.Minute, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeProc(t)
			var user, idle uint64 = 1000, 1000
			cpu := map[int]uint64{}
			for pid := 10; pid < 20; pid++ {
				f.setProc(pid, 1, "p", 0, 0, uint64(pid))
			}
			f.setCPU(user, 0, idle, 0)
			s := New(Options{ProcRoot: f.root, ScanInterval: tc.interval})
			vm := uint64(7)
			if _, err := s.Observe(t0, vm); err != nil {
				t.Fatal(err)
			}
			first := vm
			last := s.Snapshot()
			for tick := 1; tick <= 20; tick++ {
				due := tc.interval <= time.Second || (tc.interval < time.Minute && tick%int(tc.interval/time.Second) == 0)
				statFile := filepath.Join(f.root, "stat")
				if !due {
					// A deferred tick must not read /proc: take it away.
					if err := os.Remove(statFile); err != nil {
						t.Fatal(err)
					}
				}
				var sumP uint64
				for pid := 10; pid < 20; pid++ {
					d := uint64(pid*tick) % 5
					cpu[pid] += d
					sumP += d
					f.setProc(pid, 1, "p"+string(rune('a'+pid%3)), cpu[pid], 0, uint64(pid))
				}
				user += sumP + 3
				idle += uint64(tick)
				if due {
					f.setCPU(user, 0, idle, 0)
				}
				vm += uint64(tick)*999_983 + 1
				if _, err := s.Observe(t0.Add(time.Duration(tick)*time.Second), vm); err != nil {
					t.Fatalf("tick %d (due %v): %v", tick, due, err)
				}
				if !due {
					f.setCPU(user, 0, idle, 0)
				}
				snap := s.Snapshot()
				if got := sumComms(snap) + snap.IdleUJ + snap.PendingUJ; got != vm-first {
					t.Fatalf("tick %d: Σ comms + idle + pending = %d, want %d", tick, got, vm-first)
				}
				split := snap.Splits > last.Splits
				if split != due {
					t.Fatalf("tick %d: split %v, want %v (interval %s)", tick, split, due, tc.interval)
				}
				if split && snap.PendingUJ != 0 {
					t.Fatalf("tick %d: %d µJ pending after a scan", tick, snap.PendingUJ)
				}
				last = snap
			}
			if last.Splits != tc.wantSplits {
				t.Fatalf("%d splits in 20 ticks, want %d", last.Splits, tc.wantSplits)
			}
			if last.Deferred != 20-tc.wantSplits {
				t.Fatalf("%d deferred ticks, want %d", last.Deferred, 20-tc.wantSplits)
			}
		})
	}
}

// The energy of a window of deferred ticks is split by the CPU time of
// the whole window: the same shares as one tick carrying all of it.
func TestScanIntervalSplitsWindowLikeOneTick(t *testing.T) {
	run := func(interval time.Duration, ticks int) Snapshot {
		f := newFakeProc(t)
		f.setCPU(1000, 0, 1000, 0)
		f.setProc(10, 1, "a", 0, 0, 1)
		f.setProc(11, 1, "b", 0, 0, 2)
		s := New(Options{ProcRoot: f.root, ScanInterval: interval})
		if _, err := s.Observe(t0, 0); err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= ticks; i++ {
			// a runs early in the window, b late; the window's totals are a 300, b 100.
			if i == 1 {
				f.setProc(10, 1, "a", 300, 0, 1)
			}
			if i == ticks {
				f.setProc(11, 1, "b", 100, 0, 2)
				f.setCPU(1400, 0, 1600, 0)
			}
			if _, err := s.Observe(t0.Add(time.Duration(i)*time.Second*5/time.Duration(ticks)), uint64(i)*5_000_000/uint64(ticks)); err != nil {
				t.Fatal(err)
			}
		}
		return s.Snapshot()
	}
	one := run(0, 1)
	window := run(5*time.Second, 5)
	if window.Splits != 1 || window.PendingUJ != 0 {
		t.Fatalf("window: %d splits, %d µJ pending; want 1 and 0", window.Splits, window.PendingUJ)
	}
	// 5 J over T = 1000 ticks: a 300 → 1.5 J, b 100 → 0.5 J, idle 600 → 3 J.
	for _, s := range []Snapshot{one, window} {
		if s.CommEnergyUJ["a"] != 1_500_000 || s.CommEnergyUJ["b"] != 500_000 || s.IdleUJ != 3_000_000 {
			t.Fatalf("a %d b %d idle %d, want 1500000, 500000, 3000000", s.CommEnergyUJ["a"], s.CommEnergyUJ["b"], s.IdleUJ)
		}
	}
	if len(window.Top) != 2 || window.Top[0].Comm != "a" || window.Top[0].Watts != 0.3 {
		t.Fatalf("top %+v, want a first at 0.3 W (1.5 J over the 5 s window)", window.Top)
	}
}
