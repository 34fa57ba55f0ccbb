// Package domain defines what the host agent knows of a virtual machine and
// the small interface its sources (libvirt, simulated) implement.
package domain

import "context"

// State of a domain, reduced to what attribution needs.
type State string

const (
	StateRunning State = "running"
	StatePaused  State = "paused"
	StateShutoff State = "shutoff"
	StateOther   State = "other"
)

// Domain is one VM as seen in one bulk stats call. Times are cumulative
// since the domain's qemu process started (they restart at 0 when it does).
type Domain struct {
	UUID       string
	Name       string
	State      State
	VCPUs      int    // allocated (current) vCPUs
	VCPUTimeNS uint64 // Σ vcpu.N.time
	CPUTimeNS  uint64 // cpu.time (vCPUs + emulator and I/O threads); 0 when not reported
	Labels     map[string]string
}

// Source lists every defined domain (running or not) with its counters in
// one call. Implementations must not make a call per domain per tick.
type Source interface {
	Domains(ctx context.Context) ([]Domain, error)
	Close() error
}
