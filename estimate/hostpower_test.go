package estimate

import (
	"math"
	"strings"
	"testing"
)

func TestNewHostPower(t *testing.T) {
	def := DefaultHostPowerParams()
	tests := []struct {
		name            string
		spec            HostSpec
		params          HostPowerParams
		basis           string
		maxW, idleW, dW float64
	}{
		{"known CPU, two sockets", HostSpec{CPUModel: "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz", Sockets: 2, Threads: 80, MemBytes: 256e9},
			def, BasisTable, 2 * 150, 2 * 150 * 0.74 / 3.5, 256 * 0.392},
		{"unknown CPU, per thread", HostSpec{CPUModel: "QEMU Virtual CPU version 2.5+", Sockets: 1, Threads: 8, MemBytes: 16e9},
			def, BasisPerThread, 8 * 3.5, 8 * 3.5 * 0.74 / 3.5, 16 * 0.392},
		{"configured TDP wins", HostSpec{CPUModel: "AMD EPYC 7763 64-Core Processor", Sockets: 1, Threads: 128},
			HostPowerParams{IdleFraction: 0.5, TDPWatts: 100, DRAMWattsPerGB: 1}, BasisOverride, 100, 50, 0},
		{"zero sockets and threads count as one", HostSpec{CPUModel: "", MemBytes: 1e9},
			HostPowerParams{IdleFraction: 0.25, WattsPerThread: 4, DRAMWattsPerGB: 2}, BasisPerThread, 4, 1, 2},
		{"bad figures clamp", HostSpec{CPUModel: "x", Threads: 2, MemBytes: 1e9},
			HostPowerParams{IdleFraction: math.NaN(), WattsPerThread: math.Inf(1), DRAMWattsPerGB: -1}, BasisPerThread, 0, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHostPower(tc.spec, tc.params)
			if h.Basis != tc.basis || !near(h.MaxW, tc.maxW) || !near(h.IdleW, tc.idleW) || !near(h.DRAMW, tc.dW) {
				t.Fatalf("got basis %q max %v idle %v dram %v; want %q %v %v %v", h.Basis, h.MaxW, h.IdleW, h.DRAMW, tc.basis, tc.maxW, tc.idleW, tc.dW)
			}
			if h.Known() != (tc.basis != BasisPerThread) {
				t.Errorf("Known() = %v with basis %q", h.Known(), h.Basis)
			}
			for _, u := range []float64{-1, 0, 0.3, 1, 2, math.NaN(), math.Inf(1)} {
				p := h.CPUWatts(u)
				if p < h.IdleW || p > h.MaxW || math.IsNaN(p) {
					t.Errorf("CPUWatts(%v) = %v, outside [%v, %v]", u, p, h.IdleW, h.MaxW)
				}
			}
			if got, want := h.CPUWatts(0.3), h.IdleW+(h.MaxW-h.IdleW)*0.3; !near(got, want) {
				t.Errorf("CPUWatts(0.3) = %v, want %v", got, want)
			}
			if s := h.String(); !strings.Contains(s, h.Basis) && h.Basis == BasisPerThread && !strings.Contains(s, "not in the TDP table") {
				t.Errorf("String() = %q does not say the CPU is unknown", s)
			}
		})
	}
}

func TestCPUTDPMatchNamesTheRow(t *testing.T) {
	name, w, ok := CPUTDPMatch("Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz")
	if !ok || w != 150 || !strings.Contains(name, "6248") {
		t.Fatalf("CPUTDPMatch = %q, %v, %v", name, w, ok)
	}
}
