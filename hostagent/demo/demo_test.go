package demo

import (
	"context"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/hostagent/meter"
	"github.com/virtwatt/virtwatt/share"
)

func TestWorldIsConsistent(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w := NewWorldSize(func() time.Time { return now }, 1, DemoVMs)
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

func TestWorldSizes(t *testing.T) {
	for _, n := range []int{1, 3, 4, 1000} {
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		w := NewWorldSize(func() time.Time { return now }, 7, n)
		ctx := context.Background()
		doms, _ := w.Domains().Domains(ctx)
		if len(doms) != n {
			t.Fatalf("n=%d: %d domains", n, len(doms))
		}
		seen := map[string]bool{}
		for _, d := range doms {
			if seen[d.Name] || seen[d.UUID] {
				t.Fatalf("n=%d: %s/%s twice", n, d.Name, d.UUID)
			}
			seen[d.Name], seen[d.UUID] = true, true
		}
		rs0, _ := w.Meter().Read()
		cpu0, _ := w.CPU()
		now = now.Add(time.Second)
		rs1, _ := w.Meter().Read()
		cpu1, _ := w.CPU()
		doms1, _ := w.Domains().Domains(ctx)
		var vms uint64
		for i := range doms1 {
			vms += doms1[i].CPUTimeNS - doms[i].CPUTimeNS
		}
		busy := cpu1.BusyNS - cpu0.BusyNS
		if vms > busy || vms == 0 {
			t.Errorf("n=%d: VMs used %d ns in 1 s, host busy %d ns", n, vms, busy)
		}
		if capNS := uint64(cpu1.CPUs) * 1e9; busy+(cpu1.IdleNS-cpu0.IdleNS) > capNS+1e6 {
			t.Errorf("n=%d: busy+idle above %d CPUs' capacity", n, cpu1.CPUs)
		}
		pkgW := float64(rs1[0].EnergyUJ-rs0[0].EnergyUJ) / 1e6
		if pkgW < pkgIdleW || pkgW > float64(rs1[0].Ceiling())/1e6 {
			t.Errorf("n=%d: package %.1f W, want between idle %.0f W and the meter's ceiling", n, pkgW, pkgIdleW)
		}
	}
}

// TestDemoSaysSimulated: the demo's energy is simulated, so its
// provenance is never "measured".
func TestDemoSaysSimulated(t *testing.T) {
	w := NewWorldSize(time.Now, 1, DemoVMs)
	p := meter.ProvenanceOf(w.Meter())
	if p.Method != share.MethodEstimated || p.Model != share.ModelDemo {
		t.Errorf("demo provenance = %+v, want estimated/demo", p)
	}
}
