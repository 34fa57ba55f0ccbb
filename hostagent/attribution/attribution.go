// Package attribution splits measured energy across VMs. It is pure: inputs
// are counter deltas, outputs are integer microjoules, and for every tick
// Σ VM shares + host share == measured energy, exactly.
//
// Per tick and per zone, with E the energy, C the capacity (elapsed × online
// CPUs), B the host busy time and u_i VM i's usage time:
//
//   - usage part of VM i: E × u_i / C;
//   - idle part E × (C − B) / C, shared by IdlePolicy;
//   - whatever no VM gets is the host's own share.
//
// That is the time model (ModelTime). With the host's power curve
// (ModelCurve, see hostagent/powercurve), the idle part is the static
// energy S = min(idle power × elapsed, E) and the usage part is the dynamic
// rest D = E − S, split by busy time instead of capacity: VM i gets
// D × u_i / B, and S is shared by IdlePolicy (by vCPUs, or by u_i / B, or
// kept by the host). Host processes get D × (B − Σu) / B, and all of D when
// nothing was busy.
//
// A ZoneSplitter rounds these exact rational shares to integer microjoules and
// carries each VM's rounding remainder to the next tick, so that cumulative
// integer counters track the exact cumulative shares (see ZoneSplitter).
package attribution

import "fmt"

// IdlePolicy says who gets the idle part E×(C−B)/C.
type IdlePolicy string

const (
	IdleHost  IdlePolicy = "host"  // the host keeps it
	IdleVCPUs IdlePolicy = "vcpus" // by allocated vCPUs over max(Σ vCPUs, host CPUs)
	IdleBusy  IdlePolicy = "busy"  // by usage over B
)

// Model says what the idle part of a tick's energy is.
type Model string

const (
	ModelTime  Model = "time"  // E × (C − B) / C: the share of idle CPU time
	ModelCurve Model = "curve" // min(Tick.StaticUJ, E): the power curve's static energy
)

// OverheadPolicy says who gets emulator/IO-thread time (cpu.time − Σ vcpu time).
type OverheadPolicy string

const (
	OverheadVM   OverheadPolicy = "vm"   // counted as the VM's usage
	OverheadHost OverheadPolicy = "host" // counted as host processes
)

// Policy is the pair of choices that shape a split.
type Policy struct {
	Idle     IdlePolicy
	Overhead OverheadPolicy
}

// DefaultPolicy is idle by allocated vCPUs (the fair default for reserved
// capacity) and emulator overhead charged to the VM that caused it.
func DefaultPolicy() Policy {
	return Policy{Idle: IdleVCPUs, Overhead: OverheadVM}
}

// Validate reports an unknown idle or overhead policy, naming the bad value
// and the allowed ones.
func (p Policy) Validate() error {
	switch p.Idle {
	case IdleHost, IdleVCPUs, IdleBusy:
	default:
		return fmt.Errorf("attribution: idle policy %q is not one of %q, %q, %q", p.Idle, IdleHost, IdleVCPUs, IdleBusy)
	}
	switch p.Overhead {
	case OverheadVM, OverheadHost:
	default:
		return fmt.Errorf("attribution: overhead policy %q is not one of %q, %q", p.Overhead, OverheadVM, OverheadHost)
	}
	return nil
}
