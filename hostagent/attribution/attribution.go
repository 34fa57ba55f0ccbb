// Package attribution splits measured energy across VMs. It is pure: inputs
// are counter deltas, outputs are integer microjoules, and for every tick
// Σ VM shares + host share == measured energy, exactly.
package attribution

// IdlePolicy says who gets the idle part E×(C−B)/C.
type IdlePolicy string

const (
	IdleHost  IdlePolicy = "host"  // the host keeps it
	IdleVCPUs IdlePolicy = "vcpus" // by allocated vCPUs over max(Σ vCPUs, host CPUs)
	IdleBusy  IdlePolicy = "busy"  // by usage over B
)

// OverheadPolicy says who gets emulator/IO-thread time (cpu.time − Σ vcpu time).
type OverheadPolicy string

const (
	OverheadVM   OverheadPolicy = "vm"   // counted as the VM's usage
	OverheadHost OverheadPolicy = "host" // counted as host processes
)
