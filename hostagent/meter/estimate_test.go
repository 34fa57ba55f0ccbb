package meter

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/estimate"
	"github.com/virtwatt/virtwatt/share"
)

// fakeProc copies testdata/proc/<name> (cpuinfo, meminfo) into a fresh
// directory and returns it with a function that writes its stat file.
func fakeProc(t *testing.T, name string) (root string, writeStat func(busy, idle uint64)) {
	t.Helper()
	root = t.TempDir()
	for _, f := range []string{"cpuinfo", "meminfo"} {
		b, err := os.ReadFile(filepath.Join("testdata", "proc", name, f))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(root, f), string(b))
	}
	writeStat = func(busy, idle uint64) {
		// user = busy, idle = idle (ticks); four cpuN lines.
		s := fmt.Sprintf("cpu  %d 0 0 %d 0 0 0 0 0 0\n", busy, idle)
		for i := range 4 {
			s += fmt.Sprintf("cpu%d 0 0 0 0 0 0 0 0 0 0\n", i)
		}
		writeFile(t, filepath.Join(root, "stat"), s+"intr 0\n")
	}
	writeStat(0, 0)
	return root, writeStat
}

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// step is one interval: its length and the busy/idle ticks (USER_HZ 100)
// the fake /proc/stat gains over it.
type step struct {
	dt         time.Duration
	busy, idle uint64
}

// TestEstimatorEqualsTheFormula: the counters equal, to the µJ, the model
// computed here by hand from the fake tree's figures: P_max = TDP × sockets
// (or the per-thread default), P_idle = fraction × P_max, P = P_idle +
// (P_max − P_idle) × u, DRAM = GB × W/GB, integrated over steps whose
// energies are not whole µJ.
func TestEstimatorEqualsTheFormula(t *testing.T) {
	steps := []step{
		{time.Second, 100, 300},               // u = 0.25
		{time.Second, 400, 0},                 // u = 1
		{1500 * time.Millisecond, 0, 600},     // u = 0
		{333_333_333, 10, 30},                 // u = 0.25, a third of a second
		{time.Second, 0, 0},                   // no CPU time advanced: last u kept (0.25)
		{2 * time.Second, 200, 600},           // u = 0.25
		{777_777_777 * time.Nanosecond, 7, 0}, // u = 1
	}
	tests := []struct {
		name        string
		tree        string
		params      estimate.HostPowerParams
		maxW, idleW float64 // by hand
		dramW       float64
		known       bool
	}{
		{"xeon 6248, 2 sockets, round figures", "xeon-2s", estimate.HostPowerParams{IdleFraction: 0.25, WattsPerThread: 3.5, DRAMWattsPerGB: 0.392},
			150 * 2, 150 * 2 * 0.25, 16 * 0.392, true},
		{"xeon 6248, documented defaults", "xeon-2s", estimate.DefaultHostPowerParams(),
			150 * 2, 150 * 2 * 0.74 / 3.5, 16 * 0.392, true},
		{"unknown CPU, per-thread default", "qemu", estimate.DefaultHostPowerParams(),
			3.5 * 4, 0.74 * 4, 4 * 0.392, false},
		{"configured TDP", "qemu", estimate.HostPowerParams{IdleFraction: 0.5, WattsPerThread: 3.5, DRAMWattsPerGB: 1, TDPWatts: 65},
			65, 32.5, 4, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root, writeStat := fakeProc(t, tc.tree)
			clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
			e, err := NewEstimator(EstimateOptions{ProcRoot: root, Params: tc.params, Now: clk.now})
			if err != nil {
				t.Fatal(err)
			}
			if m := e.Model(); m.Known() != tc.known || math.Abs(m.MaxW-tc.maxW) > 1e-9 || math.Abs(m.IdleW-tc.idleW) > 1e-9 {
				t.Fatalf("model %s; want P_max %v P_idle %v known %v", m, tc.maxW, tc.idleW, tc.known)
			}
			if p := e.Provenance(); p.Method != share.MethodEstimated || p.Model != share.ModelTDP || p.CPUModel == "" {
				t.Fatalf("provenance %+v", p)
			}
			rs, err := e.Read()
			if err != nil {
				t.Fatal(err)
			}
			if len(rs) != 2 || rs[0].Kind != KindPackage || rs[1].Kind != KindDRAM || rs[0].EnergyUJ != 0 || rs[1].EnergyUJ != 0 {
				t.Fatalf("first reading %+v, want package and dram at 0", rs)
			}
			var busy, idle uint64
			var fjCPU, fjDRAM float64 // femtojoules: µW × ns, exact in float64 here (< 2^53)
			u := 0.0
			tr := NewTracker()
			tr.Update(rs, 0)
			var sumCPU uint64
			for i, s := range steps {
				busy, idle = busy+s.busy, idle+s.idle
				writeStat(busy, idle)
				clk.t = clk.t.Add(s.dt)
				if s.busy+s.idle > 0 {
					u = float64(s.busy) / float64(s.busy+s.idle)
				}
				p := tc.idleW + (tc.maxW-tc.idleW)*u
				fjCPU += math.Round(p*1e6) * float64(s.dt)
				fjDRAM += math.Round(tc.dramW*1e6) * float64(s.dt)
				rs, err := e.Read()
				if err != nil {
					t.Fatal(err)
				}
				wantCPU, wantDRAM := uint64(math.Floor(fjCPU/1e9)), uint64(math.Floor(fjDRAM/1e9))
				if rs[0].EnergyUJ != wantCPU || rs[1].EnergyUJ != wantDRAM {
					t.Fatalf("step %d: package %d µJ, dram %d µJ; the formula gives %d and %d", i, rs[0].EnergyUJ, rs[1].EnergyUJ, wantCPU, wantDRAM)
				}
				// The tracker (as the agent uses it) sees every µJ: no reset, no wrap.
				for _, d := range tr.Update(rs, s.dt) {
					if d.Reset {
						t.Fatalf("step %d: the tracker read a reset: %+v", i, d)
					}
					if d.Kind == KindPackage {
						sumCPU += d.DeltaUJ
					}
				}
			}
			if sumCPU != rs0(t, e).EnergyUJ {
				t.Fatalf("Σ tracker deltas %d != counter", sumCPU)
			}
		})
	}
}

// rs0 re-reads the package counter without advancing the clock.
func rs0(t *testing.T, e *Estimator) Reading {
	t.Helper()
	rs, err := e.Read()
	if err != nil {
		t.Fatal(err)
	}
	return rs[0]
}

func TestEstimatorByHand(t *testing.T) {
	root, writeStat := fakeProc(t, "xeon-2s")
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	e, err := NewEstimator(EstimateOptions{ProcRoot: root, Now: clk.now,
		Params: estimate.HostPowerParams{IdleFraction: 0.25, WattsPerThread: 3.5, DRAMWattsPerGB: 0.392}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Read(); err != nil {
		t.Fatal(err)
	}
	writeStat(100, 300) // u = 0.25 over 1 s
	clk.t = clk.t.Add(time.Second)
	rs, err := e.Read()
	if err != nil {
		t.Fatal(err)
	}
	// 75 W + (300 − 75) W × 0.25 = 131.25 W for 1 s; DRAM 16 GB × 0.392 W/GB = 6.272 W.
	if rs[0].EnergyUJ != 131_250_000 || rs[1].EnergyUJ != 6_272_000 {
		t.Fatalf("package %d µJ, dram %d µJ; want 131250000 and 6272000", rs[0].EnergyUJ, rs[1].EnergyUJ)
	}
}

// TestEstimatorNeverGoesBack: a clock that goes back, CPU times that go
// back and an unreadable stat file neither move a counter back nor add
// energy for time that did not pass.
func TestEstimatorNeverGoesBack(t *testing.T) {
	root, writeStat := fakeProc(t, "qemu")
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	e, err := NewEstimator(EstimateOptions{ProcRoot: root, Params: estimate.DefaultHostPowerParams(), Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	read := func() []Reading {
		t.Helper()
		rs, err := e.Read()
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	read()
	writeStat(400, 0)
	clk.t = clk.t.Add(time.Second)
	a := read()
	clk.t = clk.t.Add(-time.Hour) // the clock went back
	b := read()
	if b[0].EnergyUJ != a[0].EnergyUJ || b[1].EnergyUJ != a[1].EnergyUJ {
		t.Fatalf("clock back: %d,%d after %d,%d", b[0].EnergyUJ, b[1].EnergyUJ, a[0].EnergyUJ, a[1].EnergyUJ)
	}
	writeStat(0, 0) // CPU times went back: the last utilization stays
	clk.t = clk.t.Add(time.Second)
	c := read()
	if c[0].EnergyUJ < b[0].EnergyUJ {
		t.Fatalf("CPU times back: %d after %d", c[0].EnergyUJ, b[0].EnergyUJ)
	}
	if err := os.Remove(filepath.Join(root, "stat")); err != nil {
		t.Fatal(err)
	}
	clk.t = clk.t.Add(time.Second)
	if _, err := e.Read(); err == nil {
		t.Fatal("Read with no stat file: no error")
	}
}

func TestNewEstimatorNamesTheMissingFile(t *testing.T) {
	for _, f := range []string{"cpuinfo", "meminfo", "stat"} {
		t.Run(f, func(t *testing.T) {
			root, _ := fakeProc(t, "qemu")
			if err := os.Remove(filepath.Join(root, f)); err != nil {
				t.Fatal(err)
			}
			_, err := NewEstimator(EstimateOptions{ProcRoot: root, Params: estimate.DefaultHostPowerParams()})
			if err == nil || !errors.Is(err, os.ErrNotExist) || !containsPath(err.Error(), filepath.Join(root, f)) {
				t.Fatalf("err = %v, want one naming %s", err, filepath.Join(root, f))
			}
		})
	}
}

func containsPath(s, p string) bool { return p != "" && strings.Contains(s, p) }

// TestOpenWithEstimate: auto falls back to the estimator only when no RAPL
// is readable, and says why; estimate forces it; powercap never falls back.
func TestOpenWithEstimate(t *testing.T) {
	proc, _ := fakeProc(t, "xeon-2s")
	est := EstimateOptions{ProcRoot: proc, Params: estimate.DefaultHostPowerParams()}
	noRAPL := t.TempDir()
	rapl := expandTree(t, "one-socket.tree")
	tests := []struct {
		kind, powercap string
		want           string // meter name, "" for an error
		fellBack       bool
	}{
		{"auto", noRAPL, EstimatorName, true},
		{"auto", rapl, "powercap", false},
		{"estimate", rapl, EstimatorName, false},
		{"powercap", noRAPL, "", false},
	}
	for _, tc := range tests {
		m, why, err := OpenWithEstimate(Options{Kind: tc.kind, PowercapRoot: tc.powercap, MSRRoot: filepath.Join(noRAPL, "msr"), Estimate: est})
		if tc.want == "" {
			if err == nil {
				t.Errorf("%s on %s: no error", tc.kind, tc.powercap)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s on %s: %v", tc.kind, tc.powercap, err)
		}
		if m.Name() != tc.want || (why != nil) != tc.fellBack {
			t.Errorf("%s on %s: meter %s, fell back %v; want %s, %v", tc.kind, tc.powercap, m.Name(), why, tc.want, tc.fellBack)
		}
		var nr *NoRAPLError
		if tc.fellBack && (!errors.As(why, &nr) || nr.PowercapRoot != noRAPL || nr.Powercap == nil || nr.MSR == nil) {
			t.Errorf("fallback reason %v does not name both paths and causes", why)
		}
	}
}
