package libvirtsrc

import (
	"libvirt.org/go/libvirt"

	"github.com/virtwatt/virtwatt/hostagent/domain"
)

// statsTypes is what one Domains call asks libvirt for, for every domain.
const statsTypes = libvirt.DOMAIN_STATS_STATE | libvirt.DOMAIN_STATS_CPU_TOTAL | libvirt.DOMAIN_STATS_VCPU

// mapState reduces a libvirt domain state to what attribution needs:
// states in which the qemu process runs vCPUs map to running, states in
// which it exists with stopped vCPUs to paused, and a domain without a
// process to shutoff.
func mapState(st *libvirt.DomainStatsState) domain.State {
	if st == nil || !st.StateSet {
		return domain.StateOther
	}
	switch st.State {
	case libvirt.DOMAIN_RUNNING, libvirt.DOMAIN_BLOCKED, libvirt.DOMAIN_SHUTDOWN:
		// BLOCKED: running, waiting on a resource; SHUTDOWN: being shut down, still running.
		return domain.StateRunning
	case libvirt.DOMAIN_PAUSED, libvirt.DOMAIN_PMSUSPENDED:
		return domain.StatePaused
	case libvirt.DOMAIN_SHUTOFF:
		return domain.StateShutoff
	default: // NOSTATE, CRASHED and states newer than this code
		return domain.StateOther
	}
}

// fromStats converts one bulk stats record. uuid and name come from the
// record's virDomainPtr, which this function does not touch, so it can be
// fed hand-made records in tests.
//
// VCPUs counts the vcpu.N entries that carry a state: libvirt reports them
// for the current (online) vCPUs of an active domain only, so an inactive
// domain, or a driver without vCPU stats such as test:///, has 0.
func fromStats(uuid, name string, st libvirt.DomainStats) domain.Domain {
	d := domain.Domain{
		UUID:  uuid,
		Name:  name,
		State: mapState(st.State),
	}
	for _, v := range st.Vcpu {
		if v.StateSet {
			d.VCPUs++
		}
		if v.TimeSet {
			d.VCPUTimeNS += v.Time
		}
	}
	if st.Cpu != nil && st.Cpu.TimeSet {
		d.CPUTimeNS = st.Cpu.Time
	}
	return d
}
