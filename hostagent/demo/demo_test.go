package demo

import (
	"context"
	"testing"
	"time"
)

func TestWorldIsConsistent(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w := NewWorld(func() time.Time { return now }, 1)
	ctx := context.Background()
	var lastPkg uint64
	var lastBusy uint64
	for i := 0; i < 300; i++ {
		now = now.Add(time.Second)
		rs, err := w.Meter().Read()
		if err != nil || len(rs) != 2 {
			t.Fatalf("meter: %v %v", rs, err)
		}
		cpu, _ := w.CPU()
		doms, _ := w.Domains().Domains(ctx)
		var vsum uint64
		for _, d := range doms {
			vsum += d.CPUTimeNS
			if d.VCPUTimeNS > d.CPUTimeNS {
				t.Fatalf("%s: vCPU time above CPU time", d.Name)
			}
		}
		if vsum > cpu.BusyNS {
			t.Fatalf("VMs used %d ns, more than the host's busy %d ns", vsum, cpu.BusyNS)
		}
		if cpu.BusyNS+cpu.IdleNS > uint64(i+1)*hostCPUs*1e9+1e6 {
			t.Fatalf("busy+idle beyond capacity after %d s", i+1)
		}
		if cpu.BusyNS < lastBusy {
			t.Fatal("busy time went back")
		}
		lastBusy = cpu.BusyNS
		if rs[0].EnergyUJ < lastPkg {
			wrapped := rs[0].EnergyUJ + maxRangeUJ - lastPkg
			if wrapped > 200e6 { // ≤ 200 J in one second
				t.Fatalf("package counter went back by more than a wrap")
			}
		}
		lastPkg = rs[0].EnergyUJ
	}
}
