package attribution

import (
	"strconv"
	"testing"
)

func BenchmarkSplit(b *testing.B) {
	for _, idle := range []IdlePolicy{IdleHost, IdleVCPUs, IdleBusy} {
		b.Run(string(idle), func(b *testing.B) {
			const n = 1000
			tick := Tick{EnergyUJ: 250_000_000, CapacityNS: 128 * 1_000_000_000, BusyNS: 90 * 1_000_000_000, HostCPUs: 128}
			keys := make([]string, n)
			for i := range n {
				keys[i] = "vm-" + strconv.Itoa(i)
				tick.VMs = append(tick.VMs, VM{VCPUTimeNS: uint64(i%97+1) * 800_000, OverheadNS: uint64(i%13) * 1000, VCPUs: 1 + i%8})
			}
			s := NewZoneSplitter(Policy{Idle: idle, Overhead: OverheadVM})
			s.Split(tick, keys) // first tick creates the carries
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				tick.EnergyUJ = 250_000_000 + uint64(i%1000)
				s.Split(tick, keys)
			}
		})
	}
}
