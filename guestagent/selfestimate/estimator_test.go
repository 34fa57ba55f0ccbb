package selfestimate

import (
	"bytes"
	"fmt"
	"log/slog"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/estimate"
	"github.com/virtwatt/virtwatt/guestagent/account"
	"github.com/virtwatt/virtwatt/guestagent/selfestimate/fakeproc"
	"github.com/virtwatt/virtwatt/share"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func fakeProc(t *testing.T) string { return fakeproc.New(t) }

func writeStat(t *testing.T, dir string, busy, idle uint64) { fakeproc.SetStat(t, dir, busy, idle) }

// TestStepIsCCFByHand: 4 vCPUs of Cascade Lake (CCF: 0.64 to 3.97 W per
// vCPU) busy a quarter of 10 s, and 8 GiB at 0.392 W/GB.
func TestStepIsCCFByHand(t *testing.T) {
	proc := fakeProc(t)
	e, err := New(Options{ProcRoot: proc})
	if err != nil {
		t.Fatal(err)
	}
	if c, known := e.coef, e.known; !known || c.Microarchitecture != estimate.CCFCascadeLake {
		t.Fatalf("coefficients %+v known %v, want Cascade Lake's", c, known)
	}
	first, err := e.Step(t0)
	if err != nil || first.EnergyUJ != nil || first.PowerW != nil {
		t.Fatalf("first step: %+v, %v; want a baseline", first, err)
	}
	writeStat(t, proc, 1000+1000, 3000+3000) // 4000 ticks = 4 CPUs × 10 s; 1000 busy
	got, err := e.Step(t0.Add(10 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	cpuW := 4 * (0.64 + (3.97-0.64)*0.25)
	memW := 8 * 0.392
	if math.Abs(got.PowerW[share.ZonePackage]-cpuW) > 1e-12 || math.Abs(got.PowerW[share.ZoneDRAM]-memW) > 1e-12 {
		t.Fatalf("power %v, want package %v W, dram %v W", got.PowerW, cpuW, memW)
	}
	wantPkg := cpuW * 10 * 1e6
	wantDyn := 4 * (3.97 - 0.64) * 0.25 * 10 * 1e6
	wantMem := memW * 10 * 1e6
	if !within1(got.EnergyUJ[share.ZonePackage], wantPkg) || !within1(got.DynamicUJ[share.ZonePackage], wantDyn) || !within1(got.EnergyUJ[share.ZoneDRAM], wantMem) {
		t.Fatalf("energy %v dynamic %v, want package %.1f (dynamic %.1f), dram %.1f µJ", got.EnergyUJ, got.DynamicUJ, wantPkg, wantDyn, wantMem)
	}
	if got.Model != share.ModelCCF {
		t.Fatalf("model %q", got.Model)
	}
}

// within1 reports whether the whole µJ got are the µJ want, to the µJ
// (float rounding of the same formula).
func within1(got uint64, want float64) bool { return math.Abs(float64(got)-want) <= 1 }

// TestStepCarriesFractions: many short steps add up to the integral of
// the power, to the µJ.
func TestStepCarriesFractions(t *testing.T) {
	proc := fakeProc(t)
	e, err := New(Options{ProcRoot: proc})
	if err != nil {
		t.Fatal(err)
	}
	e.Step(t0)
	var sum uint64
	busy, idle := uint64(1000), uint64(3000)
	for i := 1; i <= 1000; i++ {
		busy, idle = busy+1, idle+3 // 4 ticks per 10 ms step: u = 0.25
		writeStat(t, proc, busy, idle)
		s, err := e.Step(t0.Add(time.Duration(i) * 10 * time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		sum += s.EnergyUJ[share.ZonePackage]
	}
	want := 4 * (0.64 + (3.97-0.64)*0.25) * 10 * 1e6
	if d := math.Abs(float64(sum) - want); d > 1 {
		t.Fatalf("1000 steps: %d µJ, integral %.1f µJ: %.1f µJ apart", sum, want, d)
	}
}

// TestStepBaselines: a step over which the clock or the counters went
// back, or longer than MaxStep, gives no energy; the next one does.
func TestStepBaselines(t *testing.T) {
	proc := fakeProc(t)
	e, err := New(Options{ProcRoot: proc, MaxStep: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	e.Step(t0)
	for _, tc := range []struct {
		name       string
		at         time.Duration
		busy, idle uint64
		energy     bool
	}{
		{"normal", 10 * time.Second, 2000, 6000, true},
		{"clock back", 5 * time.Second, 3000, 9000, false},
		{"after clock back", 15 * time.Second, 4000, 12000, true},
		{"counters back (a new boot's /proc/stat)", 25 * time.Second, 100, 300, false},
		{"after counters back", 35 * time.Second, 1100, 3300, true},
		{"gap longer than MaxStep", 5 * time.Minute, 2100, 6300, false},
		{"after the gap", 5*time.Minute + 10*time.Second, 3100, 9300, true},
	} {
		writeStat(t, proc, tc.busy, tc.idle)
		s, err := e.Step(t0.Add(tc.at))
		if err != nil {
			t.Fatal(err)
		}
		if got := s.EnergyUJ[share.ZonePackage] > 0; got != tc.energy {
			t.Errorf("%s: energy %v, want energy %v", tc.name, s.EnergyUJ, tc.energy)
		}
	}
}

// TestUnknownCPUUsesCCFAverage: a CPU CCF has no figures for (arm64
// here: no vendor, no model name) is estimated at CCF's average, said
// once in the log; a missing meminfo leaves memory out, said too.
func TestUnknownCPUUsesCCFAverage(t *testing.T) {
	proc := fakeProc(t)
	if err := os.WriteFile(filepath.Join(proc, "cpuinfo"), []byte("processor\t: 0\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\nCPU part\t: 0xd0c\n\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(proc, "meminfo")); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	e, err := New(Options{ProcRoot: proc, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	avg, _, _ := estimate.CCFFor(estimate.CCFUnknown)
	if c, known := e.coef, e.known; known || c != avg {
		t.Fatalf("coefficients %+v known %v, want CCF's average %+v", c, known, avg)
	}
	e.Step(t0)
	writeStat(t, proc, 2000, 6000)
	s, _ := e.Step(t0.Add(10 * time.Second))
	writeStat(t, proc, 3000, 9000)
	e.Step(t0.Add(20 * time.Second))
	if want := 4 * (0.74 + (3.54-0.74)*0.25) * 10 * 1e6; !within1(s.EnergyUJ[share.ZonePackage], want) {
		t.Fatalf("package %d µJ, want %.1f at CCF's average", s.EnergyUJ[share.ZonePackage], want)
	}
	if _, ok := s.EnergyUJ[share.ZoneDRAM]; ok {
		t.Fatalf("dram estimated without a memory size: %v", s.EnergyUJ)
	}
	if n := strings.Count(logs.String(), "average across microarchitectures"); n != 1 {
		t.Fatalf("the average is said %d times, want once:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "memory size unknown") {
		t.Fatalf("a missing MemTotal is not said:\n%s", logs.String())
	}
}

// TestStepStatUnreadable: an unreadable /proc/stat is an error naming it.
func TestStepStatUnreadable(t *testing.T) {
	proc := fakeProc(t)
	e, err := New(Options{ProcRoot: proc})
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(proc, "stat"))
	if _, err := e.Step(t0); err == nil || !strings.Contains(err.Error(), "stat") {
		t.Fatalf("Step = %v, want an error naming the file", err)
	}
}

// TestStepExcludesSteal: steal time (the host running something else
// while the vCPUs waited) is not the VM's: it counts as neither busy nor
// power, though it is CPU time.
func TestStepExcludesSteal(t *testing.T) {
	proc := fakeProc(t)
	e, err := New(Options{ProcRoot: proc})
	if err != nil {
		t.Fatal(err)
	}
	e.Step(t0)
	// 4000 ticks over 10 s: 2000 user, of the rest 1000 steal and 1000 idle.
	body := "cpu  3000 0 0 4000 0 0 0 1000 0 0\ncpu0 0 0 0 0 0 0 0 0 0 0\ncpu1 0 0 0 0 0 0 0 0 0 0\ncpu2 0 0 0 0 0 0 0 0 0 0\ncpu3 0 0 0 0 0 0 0 0 0 0\n"
	if err := os.WriteFile(filepath.Join(proc, "stat"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := e.Step(t0.Add(10 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if want := 4 * (0.64 + (3.97-0.64)*0.5); math.Abs(s.PowerW[share.ZonePackage]-want) > 1e-12 {
		t.Fatalf("power %v W, want %v W (u = 2000/4000: steal is not busy)", s.PowerW[share.ZonePackage], want)
	}
}

// TestAbsurdProcIsRefused: a MemTotal no VM has (16 EiB) or a /proc/stat
// naming more vCPUs than any VM has would make an estimate above
// account.MaxPlausibleWatts: memory is then left out, said once naming
// meminfo's MemTotal, and a CPU step is refused (no energy), said once
// naming /proc/stat; power stays finite and plausible.
func TestAbsurdProcIsRefused(t *testing.T) {
	proc := fakeProc(t)
	if err := os.WriteFile(filepath.Join(proc, "meminfo"), []byte("MemTotal:       18014398509481983 kB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	e, err := New(Options{ProcRoot: proc, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if e.memBytes != 0 {
		t.Fatalf("memory %d bytes counted, want the absurd MemTotal left out", e.memBytes)
	}
	e.Step(t0)
	writeStat(t, proc, 2000, 6000)
	s, _ := e.Step(t0.Add(10 * time.Second))
	if _, ok := s.EnergyUJ[share.ZoneDRAM]; ok || s.PowerW[share.ZonePackage] > account.MaxPlausibleWatts {
		t.Fatalf("step %+v: want no dram and a plausible package", s)
	}
	if !strings.Contains(logs.String(), "MemTotal") || !strings.Contains(logs.String(), "meminfo") {
		t.Fatalf("the absurd MemTotal is not said naming the file and field:\n%s", logs.String())
	}

	// 100000 cpuN lines: 100000 vCPUs at 3.97 W is ~400 kW.
	var b strings.Builder
	for i, tick := range []uint64{0, 1_000_000, 2_000_000} {
		b.Reset()
		fmt.Fprintf(&b, "cpu  %d 0 0 %d 0 0 0 0 0 0\n", tick, tick)
		for c := range 100000 {
			fmt.Fprintf(&b, "cpu%d 0 0 0 0 0 0 0 0 0 0\n", c)
		}
		if err := os.WriteFile(filepath.Join(proc, "stat"), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := e.Step(t0.Add(time.Duration(20+10*i) * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if s.EnergyUJ[share.ZonePackage] != 0 || s.PowerW[share.ZonePackage] > account.MaxPlausibleWatts {
			t.Fatalf("step with 100000 vCPUs: %+v, want refused", s)
		}
	}
	if n := strings.Count(logs.String(), "vCPUs"); n != 1 {
		t.Fatalf("the absurd vCPU count is said %d times, want once:\n%s", n, logs.String())
	}
}

// TestStepIsExactIntegral: over many steps of uneven length and load, the
// package energy is exactly the integral of its static and dynamic power
// at the µW and the ns (estimate.Integrator's ⌊Σ µW × ns / 10⁹⌋, each part
// on its own), and dram's of its power: no float carry drifting.
func TestStepIsExactIntegral(t *testing.T) {
	proc := fakeProc(t)
	e, err := New(Options{ProcRoot: proc})
	if err != nil {
		t.Fatal(err)
	}
	coef := e.coef
	e.Step(t0)
	var staticFJ, dynFJ, dramFJ big.Int
	add := func(sum *big.Int, w float64, dt time.Duration) {
		var p big.Int
		p.Mul(new(big.Int).SetUint64(estimate.Microwatts(w)), big.NewInt(int64(dt)))
		sum.Add(sum, &p)
	}
	var pkg, dyn, dram uint64
	busy, idle := uint64(1000), uint64(3000)
	now := t0
	for i := 1; i <= 3000; i++ {
		db := uint64(i%7) * 37
		busy, idle = busy+db, idle+400-db
		writeStat(t, proc, busy, idle)
		dt := time.Second + time.Duration(i)*7919*time.Nanosecond
		now = now.Add(dt)
		s, err := e.Step(now)
		if err != nil {
			t.Fatal(err)
		}
		pkg += s.EnergyUJ[share.ZonePackage]
		dyn += s.DynamicUJ[share.ZonePackage]
		dram += s.EnergyUJ[share.ZoneDRAM]
		u := float64(db) / 400
		staticW := estimate.CCFCPUWatts(coef, 4, 0)
		add(&staticFJ, staticW, dt)
		add(&dynFJ, estimate.CCFCPUWatts(coef, 4, u)-staticW, dt)
		add(&dramFJ, estimate.CCFMemoryWatts(8<<30), dt)
	}
	uj := func(fj *big.Int) uint64 { return new(big.Int).Quo(fj, big.NewInt(1e9)).Uint64() }
	if wantDyn, wantPkg, wantDRAM := uj(&dynFJ), uj(&staticFJ)+uj(&dynFJ), uj(&dramFJ); dyn != wantDyn || pkg != wantPkg || dram != wantDRAM {
		t.Fatalf("package %d µJ (dynamic %d), dram %d; want exactly %d (%d), %d", pkg, dyn, dram, wantPkg, wantDyn, wantDRAM)
	}
}

// TestMarkReadsStatOncePerWindow: Mark, called on every poll while the
// share is up, reads /proc/stat only when its reading is MarkReadEvery
// old; the step after it starts at the last Mark and is priced by the CPU
// use since the reading.
func TestMarkReadsStatOncePerWindow(t *testing.T) {
	proc := fakeProc(t)
	e, err := New(Options{ProcRoot: proc})
	if err != nil {
		t.Fatal(err)
	}
	writeStat(t, proc, 1000, 3000)
	if err := e.Mark(t0); err != nil {
		t.Fatal(err)
	}
	stat := filepath.Join(proc, "stat")
	if err := os.Rename(stat, stat+".away"); err != nil {
		t.Fatal(err)
	}
	for sec := 1; sec < int(MarkReadEvery/time.Second); sec++ {
		if err := e.Mark(t0.Add(time.Duration(sec) * time.Second)); err != nil {
			t.Fatalf("Mark at %d s read /proc/stat again: %v", sec, err)
		}
	}
	if err := e.Mark(t0.Add(MarkReadEvery)); err == nil {
		t.Fatalf("Mark at %v did not read /proc/stat again", MarkReadEvery)
	}
	// Read again at 20 s, marked at 25 s, stepped at 30 s: 5 s of energy at
	// the utilization of 20 s to 30 s (a half).
	if err := os.Rename(stat+".away", stat); err != nil {
		t.Fatal(err)
	}
	writeStat(t, proc, 2000, 6000)
	if err := e.Mark(t0.Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := e.Mark(t0.Add(25 * time.Second)); err != nil {
		t.Fatal(err)
	}
	writeStat(t, proc, 2000+2000, 6000+2000)
	s, err := e.Step(t0.Add(30 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	c := e.coef
	cpuW := estimate.CCFCPUWatts(c, fakeproc.CPUs, 0.5)
	if got, want := s.PowerW[share.ZonePackage], cpuW; math.Abs(got-want) > 1e-9 {
		t.Errorf("package power %v W, want %v W (a half busy)", got, want)
	}
	if got, want := float64(s.EnergyUJ[share.ZonePackage]), cpuW*5e6; math.Abs(got-want) > 2 {
		t.Errorf("package energy %v µJ, want %v µJ (5 s since the last Mark)", got, want)
	}
}
