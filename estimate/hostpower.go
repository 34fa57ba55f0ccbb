package estimate

import (
	"fmt"
	"math"
)

// Host power model "tdp", for a host whose RAPL counters cannot be read:
//
//	P_cpu(u) = P_idle + (P_max − P_idle) × u,  u = busy CPU time / all CPU time
//	P_max    = TDP × sockets                    (TDP per socket, cpuTDP's table)
//	P_idle   = IdleFraction × P_max
//	P_dram   = MemTotal in GB × DRAMWattsPerGB  (constant)
//
// A CPU the table does not know is reckoned per hardware thread:
// P_max = WattsPerThread × threads. The sources of the defaults follow.
const (
	// DefaultIdleFraction is P_idle / P_max: Cloud Carbon Footprint's
	// average minimum over average maximum watts per vCPU for AWS's
	// micro-architectures, 0.74 W / 3.5 W ≈ 0.21, themselves taken from
	// the SPECpower_ssj2008 results (CCF methodology, 2021).
	DefaultIdleFraction = 0.74 / 3.5
	// DefaultWattsPerThread is P_max per hardware thread of a CPU the TDP
	// table does not know: CCF's average maximum watts per vCPU (one
	// hyper-thread) for AWS, 3.5 W (CCF methodology, 2021).
	DefaultWattsPerThread = 3.5
	// DefaultDRAMWattsPerGB is CCF's memory coefficient, 0.392 W/GB
	// (CCFMemoryWattsPerGB, the one the guest's estimate uses too). GB
	// here is 10⁹ bytes of MemTotal.
	DefaultDRAMWattsPerGB = CCFMemoryWattsPerGB
)

// HostSpec is what the model needs of the host (internal/procinfo reads it).
type HostSpec struct {
	CPUModel         string // /proc/cpuinfo "model name"
	Sockets, Threads int    // distinct physical ids, processors; at least 1
	MemBytes         uint64 // MemTotal
}

// HostPowerParams are the model's figures (the config's estimate.* keys).
type HostPowerParams struct {
	IdleFraction   float64 // P_idle / P_max, in [0, 1]
	WattsPerThread float64 // P_max per thread of an unknown CPU, > 0
	DRAMWattsPerGB float64 // ≥ 0 (0: no DRAM power)
	TDPWatts       float64 // per socket; > 0 overrides the table, 0 uses it
}

// DefaultHostPowerParams are the documented defaults above.
func DefaultHostPowerParams() HostPowerParams {
	return HostPowerParams{IdleFraction: DefaultIdleFraction, WattsPerThread: DefaultWattsPerThread, DRAMWattsPerGB: DefaultDRAMWattsPerGB}
}

// Bases of HostPower.Basis: where P_max came from.
const (
	BasisTable     = "tdp table"  // the CPU matched a row of the TDP table
	BasisOverride  = "configured" // estimate.tdp-watts
	BasisPerThread = "per-thread" // unknown CPU: WattsPerThread × threads
)

// HostPower is the model for one host, every figure finite and ≥ 0.
type HostPower struct {
	Spec    HostSpec
	Params  HostPowerParams
	Matched string  // the TDP table's row ("" unless Basis is BasisTable)
	Basis   string  // BasisTable, BasisOverride or BasisPerThread
	TDP     float64 // W per socket (0 with BasisPerThread)
	MaxW    float64 // P_max of the CPUs
	IdleW   float64 // P_idle of the CPUs
	DRAMW   float64 // P_dram
}

// NewHostPower builds the model. Out-of-range or non-finite parameters
// are clamped (IdleFraction into [0, 1], the others to ≥ 0) so that the
// model never yields a negative, infinite or NaN power; the config
// refuses them before they get here.
func NewHostPower(spec HostSpec, p HostPowerParams) HostPower {
	spec.Sockets, spec.Threads = max(spec.Sockets, 1), max(spec.Threads, 1)
	h := HostPower{Spec: spec, Params: p}
	switch {
	case finitePos(p.TDPWatts):
		h.Basis, h.TDP = BasisOverride, p.TDPWatts
	default:
		if name, w, ok := CPUTDPMatch(spec.CPUModel); ok {
			h.Basis, h.Matched, h.TDP = BasisTable, name, w
		} else {
			h.Basis = BasisPerThread
		}
	}
	if h.Basis == BasisPerThread {
		h.MaxW = nonNeg(p.WattsPerThread) * float64(spec.Threads)
	} else {
		h.MaxW = h.TDP * float64(spec.Sockets)
	}
	h.IdleW = h.MaxW * clamp01(p.IdleFraction)
	h.DRAMW = float64(spec.MemBytes) / 1e9 * nonNeg(p.DRAMWattsPerGB)
	return h
}

// CPUWatts is P_cpu at utilization u, clamped into [0, 1] (NaN: 0).
func (h HostPower) CPUWatts(u float64) float64 {
	return h.IdleW + (h.MaxW-h.IdleW)*clamp01(u)
}

// Known says whether the CPU's power came from its TDP (table or config)
// rather than the per-thread default.
func (h HostPower) Known() bool { return h.Basis != BasisPerThread }

// String describes the model and its figures in one line.
func (h HostPower) String() string {
	var cpu string
	switch h.Basis {
	case BasisTable:
		cpu = fmt.Sprintf("CPU %q matched %q, TDP %g W × %d socket(s)", h.Spec.CPUModel, h.Matched, h.TDP, h.Spec.Sockets)
	case BasisOverride:
		cpu = fmt.Sprintf("CPU %q, configured TDP %g W × %d socket(s)", h.Spec.CPUModel, h.TDP, h.Spec.Sockets)
	default:
		cpu = fmt.Sprintf("CPU %q not in the TDP table: %g W per thread × %d threads", h.Spec.CPUModel, h.Params.WattsPerThread, h.Spec.Threads)
	}
	return fmt.Sprintf("%s; P_max %.1f W, P_idle %.1f W (idle fraction %.3f); DRAM %.1f W (%.1f GB × %g W/GB)",
		cpu, h.MaxW, h.IdleW, clamp01(h.Params.IdleFraction), h.DRAMW, float64(h.Spec.MemBytes)/1e9, nonNeg(h.Params.DRAMWattsPerGB))
}

func clamp01(v float64) float64 {
	switch {
	case !(v > 0):
		return 0 // NaN too
	case v > 1:
		return 1
	}
	return v
}

func finitePos(v float64) bool { return v > 0 && !math.IsInf(v, 1) }
