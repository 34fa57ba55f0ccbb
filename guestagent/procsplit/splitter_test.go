package procsplit

import (
	"errors"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func sumComms(s Snapshot) uint64 {
	var t uint64
	for _, v := range s.CommEnergyUJ {
		t += v
	}
	return t
}

func TestTickWorkedExample(t *testing.T) {
	f := newFakeProc(t)
	f.setCPU(1000, 0, 1000, 0)
	f.setProc(10, 1, "a", 100, 0, 5)
	f.setProc(11, 1, "b", 100, 0, 6)
	f.setProc(12, 1, "c", 100, 0, 7)
	s := New(Options{ProcRoot: f.root})
	if _, err := s.Tick(t0, 999); !errors.Is(err, ErrNoBaseline) {
		t.Fatalf("first tick err = %v, want ErrNoBaseline", err)
	}
	// busy +100 (a 50, b 30, c 0, 20 unseen), idle +100 → T = 200.
	f.setCPU(1100, 0, 1090, 10)
	f.setProc(10, 1, "a", 140, 10, 5)
	f.setProc(11, 1, "b", 130, 0, 6)
	res, err := s.Tick(t0.Add(2*time.Second), 1_000_001)
	if err != nil {
		t.Fatal(err)
	}
	// a 250000.25, b 150000.15, idle 500000.5, system 100000.1 → the left µJ goes to idle.
	if res.IdleUJ != 500001 || res.SystemUJ != 100000 {
		t.Fatalf("idle %d system %d, want 500001 and 100000", res.IdleUJ, res.SystemUJ)
	}
	if len(res.Processes) != 2 || res.Processes[0].Comm != "a" || res.Processes[0].EnergyUJ != 250000 ||
		res.Processes[1].Comm != "b" || res.Processes[1].EnergyUJ != 150000 {
		t.Fatalf("processes %+v", res.Processes)
	}
	if w := res.Processes[0].Watts; w != 0.125 {
		t.Fatalf("a's power = %v W, want 0.125 (0.25 J over 2 s)", w)
	}
	snap := s.Snapshot()
	if sumComms(snap)+snap.IdleUJ != 1_000_001 {
		t.Fatalf("Σ comms + idle = %d", sumComms(snap)+snap.IdleUJ)
	}
	if snap.CommEnergyUJ[SystemComm] != 100000 {
		t.Fatalf("system %d", snap.CommEnergyUJ[SystemComm])
	}
}

func TestConservationOverManyTicks(t *testing.T) {
	f := newFakeProc(t)
	var user, idle uint64 = 5000, 5000
	cpu := map[int]uint64{}
	for pid := 100; pid < 160; pid++ {
		cpu[pid] = uint64(pid)
		f.setProc(pid, 1, "w"+string(rune('a'+pid%26)), cpu[pid], 0, uint64(pid))
	}
	f.setCPU(user, 0, idle, 0)
	s := New(Options{ProcRoot: f.root, MaxComms: 10})
	var vm uint64 = 42
	if _, err := s.Observe(t0, vm); err != nil {
		t.Fatal(err)
	}
	first := vm
	for tick := 1; tick <= 20; tick++ {
		var sumP uint64
		for pid := 100; pid < 160; pid++ {
			d := uint64((pid * tick) % 7)
			cpu[pid] += d
			sumP += d
			f.setProc(pid, 1, "w"+string(rune('a'+pid%26)), cpu[pid], 0, uint64(pid))
		}
		// Every few ticks the processes' sum runs ahead of /proc/stat's busy.
		if tick%5 == 0 {
			user += sumP / 2
		} else {
			user += sumP + uint64(tick)
		}
		idle += uint64(tick * 3)
		f.setCPU(user, 0, idle, 0)
		vm += uint64(tick)*1_234_567 + 13
		res, err := s.Observe(t0.Add(time.Duration(tick)*time.Second), vm)
		if err != nil {
			t.Fatal(err)
		}
		var sum uint64 = res.IdleUJ + res.SystemUJ
		for _, p := range res.Processes {
			sum += p.EnergyUJ
		}
		if sum != res.EnergyUJ {
			t.Fatalf("tick %d: Σ shares %d ≠ energy %d", tick, sum, res.EnergyUJ)
		}
		snap := s.Snapshot()
		if got := sumComms(snap) + snap.IdleUJ; got != vm-first {
			t.Fatalf("tick %d: Σ comms + idle = %d, want %d", tick, got, vm-first)
		}
		if n := len(snap.CommEnergyUJ); n > 10+2 {
			t.Fatalf("%d comms kept, want at most 10 + other + [system]", n)
		}
	}
	if s.Snapshot().CommEnergyUJ[OtherComm] == 0 {
		t.Fatal("26 names over a limit of 10: nothing folded into other")
	}
}

func TestTopNOrdering(t *testing.T) {
	f := newFakeProc(t)
	f.setCPU(0, 0, 0, 0)
	for pid := 1; pid <= 5; pid++ {
		f.setProc(pid, 0, "p", 0, 0, 1)
	}
	s := New(Options{ProcRoot: f.root, TopN: 3})
	s.Tick(t0, 0)
	// pid: delta → 1:10 2:50 3:30 4:50 5:0
	for pid, d := range map[int]uint64{1: 10, 2: 50, 3: 30, 4: 50} {
		f.setProc(pid, 0, "p", d, 0, 1)
	}
	f.setCPU(140, 0, 60, 0)
	if _, err := s.Tick(t0.Add(time.Second), 2_000_000); err != nil {
		t.Fatal(err)
	}
	top := s.Snapshot().Top
	if len(top) != 3 {
		t.Fatalf("top has %d entries, want 3", len(top))
	}
	wantPIDs := []int{2, 4, 3} // equal power: lower pid first
	for i, p := range top {
		if p.PID != wantPIDs[i] {
			t.Fatalf("top[%d] = pid %d, want %d (top %+v)", i, p.PID, wantPIDs[i], top)
		}
	}
	if top[0].Watts != 0.5 || top[2].Watts != 0.3 {
		t.Fatalf("powers %+v, want 0.5 W and 0.3 W", top)
	}
}

func TestExitedProcessCountedThenForgotten(t *testing.T) {
	f := newFakeProc(t)
	f.setCPU(0, 0, 0, 0)
	f.setProc(1, 0, "init", 0, 0, 1)
	f.setProc(50, 1, "job", 0, 0, 100)
	s := New(Options{ProcRoot: f.root})
	s.Tick(t0, 0)

	f.setProc(50, 1, "job", 100, 0, 100)
	f.setCPU(100, 0, 0, 0)
	if _, err := s.Tick(t0.Add(time.Second), 1000); err != nil {
		t.Fatal(err)
	}
	if got := s.Snapshot().CommEnergyUJ["job"]; got != 1000 {
		t.Fatalf("job energy %d, want 1000", got)
	}

	// job exits (its last CPU time after the scan is lost), init runs.
	f.kill(50)
	f.setProc(1, 0, "init", 40, 0, 1)
	f.setCPU(200, 0, 0, 0)
	res, err := s.Tick(t0.Add(2*time.Second), 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range res.Processes {
		if p.PID == 50 {
			t.Fatalf("exited process still split: %+v", res.Processes)
		}
	}
	snap := s.Snapshot()
	if snap.CommEnergyUJ["job"] != 1000 || snap.CommEnergyUJ["init"] != 400 || snap.CommEnergyUJ[SystemComm] != 600 {
		t.Fatalf("comms %v, want job 1000, init 400, [system] 600", snap.CommEnergyUJ)
	}
	for _, p := range snap.Top {
		if p.PID == 50 {
			t.Fatal("exited process in top")
		}
	}
	if _, ok := s.prev[procKey{50, 100}]; ok {
		t.Fatal("exited process not forgotten")
	}
}

func TestPIDReuse(t *testing.T) {
	f := newFakeProc(t)
	f.setCPU(0, 0, 0, 0)
	f.setProc(77, 1, "old", 5000, 0, 10)
	s := New(Options{ProcRoot: f.root})
	s.Tick(t0, 0)
	// pid 77 now belongs to a new process with far less CPU time: its own
	// 20 ticks count, not a negative (wrapped) delta from the old one.
	f.setProc(77, 1, "new", 20, 0, 900)
	f.setCPU(40, 0, 60, 0)
	res, err := s.Tick(t0.Add(time.Second), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Processes) != 1 || res.Processes[0].Comm != "new" || res.Processes[0].EnergyUJ != 20 {
		t.Fatalf("processes %+v, want new with 20 µJ", res.Processes)
	}
	if res.IdleUJ != 60 || res.SystemUJ != 20 {
		t.Fatalf("idle %d system %d, want 60 and 20", res.IdleUJ, res.SystemUJ)
	}
}

func TestNoCPUTimeCarriesEnergy(t *testing.T) {
	f := newFakeProc(t)
	f.setCPU(0, 0, 0, 0)
	f.setProc(1, 0, "init", 0, 0, 1)
	s := New(Options{ProcRoot: f.root})
	s.Tick(t0, 0)
	if _, err := s.Tick(t0.Add(time.Millisecond), 500); err != nil {
		t.Fatal(err)
	}
	f.setCPU(0, 0, 10, 0)
	res, err := s.Tick(t0.Add(time.Second), 500)
	if err != nil {
		t.Fatal(err)
	}
	if res.EnergyUJ != 1000 || res.IdleUJ != 1000 {
		t.Fatalf("got %+v, want the carried 500 µJ split with the next 500", res)
	}
}

func TestCPUGoingBackwardsRebases(t *testing.T) {
	f := newFakeProc(t)
	f.setCPU(100, 0, 100, 0)
	s := New(Options{ProcRoot: f.root})
	s.Tick(t0, 0)
	f.setCPU(50, 0, 50, 0)
	if _, err := s.Tick(t0.Add(time.Second), 10); err == nil {
		t.Fatal("no error when /proc/stat went backwards")
	}
	f.setCPU(60, 0, 50, 0)
	res, err := s.Tick(t0.Add(2*time.Second), 10)
	if err != nil || res.SystemUJ != 10 {
		t.Fatalf("after rebase: %+v, %v", res, err)
	}
}

func TestObserveKeepsEnergyOfFailedTick(t *testing.T) {
	f := newFakeProc(t)
	f.setCPU(0, 0, 0, 0)
	s := New(Options{ProcRoot: f.root})
	if _, err := s.Observe(t0, 1000); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, f.root+"/stat", "garbage")
	if _, err := s.Observe(t0.Add(time.Second), 1500); err == nil {
		t.Fatal("no error on a garbled /proc/stat")
	}
	f.setCPU(0, 0, 10, 0)
	res, err := s.Observe(t0.Add(2*time.Second), 2000)
	if err != nil {
		t.Fatal(err)
	}
	if res.EnergyUJ != 1000 {
		t.Fatalf("split %d µJ, want 1000 (the failed tick's 500 included)", res.EnergyUJ)
	}
}
