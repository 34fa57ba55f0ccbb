// Package state keeps the host agent's cumulative counters in a file outside
// every share, replaced atomically each tick, so that a restart (even after
// SIGKILL) continues every counter where it stopped.
//
// Invariants: a State returned by Load passes Validate, and saving it and
// loading it again gives the same state. A file that does not pass is
// refused at start, never taken as empty: silently restarting every counter
// at 0 is what the file exists to prevent (see Load).
package state

import (
	"time"

	"github.com/virtwatt/virtwatt/hostagent/powercurve"
	"github.com/virtwatt/virtwatt/share"
)

// Version of the state file format.
const Version = 1

// VM is one domain's cumulative counters.
type VM struct {
	Name       string                      `json:"name"`
	Instance   string                      `json:"instance"`
	Sequence   uint64                      `json:"sequence"`
	Zones      map[string]share.ZoneEnergy `json:"zones"`
	VCPUTimeNS uint64                      `json:"vcpu_time_ns"` // accumulated deltas, monotonic
	CPUTimeNS  uint64                      `json:"cpu_time_ns"`  // accumulated deltas, monotonic
	LastSeen   time.Time                   `json:"last_seen"`
	Labels     map[string]string           `json:"labels,omitempty"` // last known metadata labels
	// Base is Zones when Instance began: records publish Zones − Base, the
	// energy since the instance began, as the share contract says.
	Base map[string]share.ZoneEnergy `json:"instance_base,omitempty"`
	// EmbodiedUG is the embodied (manufacturing) emissions charged to the
	// VM, µg CO2e, cumulative; EmbodiedBaseUG is its value when Instance
	// began (records publish the difference, like zones).
	EmbodiedUG     uint64 `json:"embodied_ug,omitempty"`
	EmbodiedBaseUG uint64 `json:"instance_base_embodied_ug,omitempty"`
	// Emissions of the VM's energy, cumulative, each tick's energy priced
	// at the PUE and grid intensity in force at that tick.
	Emissions Emissions `json:"emissions_ug,omitzero"`
	// ZonesByProvenance is Zones by provenance key ("method/model", see
	// ProvenanceKey): Σ over provenances = Zones, zone by zone.
	ZonesByProvenance map[string]map[string]share.ZoneEnergy `json:"zones_by_provenance,omitempty"`
}

// Emissions is a VM's operational emissions by part, µg CO2e: of its
// usage (dynamic) energy and of its share of the idle energy.
type Emissions struct {
	DynamicUG uint64 `json:"dynamic"`
	IdleUG    uint64 `json:"idle"`
}

// Embodied is the host's amortisation of its embodied emissions. The
// amortised total is BaseUG + TotalUG × ElapsedNS / LifetimeNS (see
// Amortised); the ledger keeps Σ VMs' EmbodiedUG + HostUG + ForgottenUG
// equal to it. TotalUG and LifetimeNS are the figures of the current epoch:
// when the configuration changes them, BaseUG takes what was amortised and
// ElapsedNS restarts at 0, so the total never goes back.
type Embodied struct {
	TotalUG     uint64 `json:"total_ug"`     // the server's embodied emissions, µg CO2e
	LifetimeNS  uint64 `json:"lifetime_ns"`  // amortised over
	ElapsedNS   uint64 `json:"elapsed_ns"`   // time accounted in this epoch
	BaseUG      uint64 `json:"base_ug"`      // amortised in earlier epochs
	HostUG      uint64 `json:"host_ug"`      // the host's own share (unallocated CPUs)
	ForgottenUG uint64 `json:"forgotten_ug"` // of VMs pruned from the state
}

// State is the whole file.
type State struct {
	Version int       `json:"version"`
	SavedAt time.Time `json:"saved_at"`
	// HostEnergyUJ is the wrap-corrected host energy per "kind/socket".
	HostEnergyUJ map[string]uint64 `json:"host_energy_uj"`
	// HostEnergyByProvenanceUJ is HostEnergyUJ by provenance key
	// ("method/model"): Σ over provenances = HostEnergyUJ, key by key.
	HostEnergyByProvenanceUJ map[string]map[string]uint64 `json:"host_energy_by_provenance_uj,omitempty"`
	// UnattributedUJ is the host's own share per counted zone.
	UnattributedUJ map[string]uint64 `json:"unattributed_uj"`
	// ForgottenUJ is the energy of domains pruned from the state, per zone.
	ForgottenUJ map[string]uint64 `json:"forgotten_uj"`
	// VMs by UUID.
	VMs map[string]*VM `json:"vms"`
	// Dirs is when each share directory's domain was last seen, by name (for pruning).
	Dirs map[string]time.Time `json:"dirs"`
	// Baseline is the raw counters the last split ended on, so that a
	// quick restart measures the time it was down.
	Baseline *Baseline `json:"baseline,omitempty"`
	// Embodied is the amortisation of the host's embodied emissions; nil
	// in files from before it (nothing amortised yet).
	Embodied *Embodied `json:"embodied,omitempty"`
	// PowerCurve is what the agent learned (and calibrate measured) of
	// the host's power against busy CPUs; nil in files from before it.
	PowerCurve *powercurve.Saved `json:"power_curve,omitempty"`
}

// Baseline is the raw readings at the end of the last split.
type Baseline struct {
	Time     time.Time            `json:"time"`
	Meter    string               `json:"meter"`
	Readings []Reading            `json:"readings"`
	BusyNS   uint64               `json:"busy_ns"`
	CPUs     int                  `json:"cpus"`
	Domains  map[string][2]uint64 `json:"domains"` // uuid → [Σ vcpu time, cpu time], raw from libvirt
	// The machine the readings were taken on: RAPL counters restart at
	// boot and another host's counters are unrelated, so a different boot
	// or host means fresh baselines. Empty when unknown (an older file, an
	// unreadable source): then nothing can be compared.
	BootID    string `json:"boot_id,omitempty"`    // /proc/sys/kernel/random/boot_id
	HostName  string `json:"host_name,omitempty"`  // the host name records carry
	MachineID string `json:"machine_id,omitempty"` // /etc/machine-id
}

// Reading is one raw meter counter.
type Reading struct {
	Kind       string `json:"kind"`
	Socket     int    `json:"socket"`
	EnergyUJ   uint64 `json:"energy_uj"`
	MaxRangeUJ uint64 `json:"max_range_uj"`
}

// New returns an empty state.
func New() *State {
	return &State{
		Version:        Version,
		HostEnergyUJ:   map[string]uint64{},
		UnattributedUJ: map[string]uint64{},
		ForgottenUJ:    map[string]uint64{},
		VMs:            map[string]*VM{},
		Dirs:           map[string]time.Time{},
	}
}

// Save replaces path atomically: a temp file in the same directory,
// fsynced, renamed over path. After a crash or a power loss the file holds
// either the previous state or this one, never a mix.
func (s *State) Save(path string, now time.Time) error {
	var e Encoder
	return e.Save(s, path, now)
}

// SinceInstance is the VM's energy in zone since its Instance began.
func (vm *VM) SinceInstance(zone string) share.ZoneEnergy {
	z, b := vm.Zones[zone], vm.Base[zone]
	return share.ZoneEnergy{UsageUJ: z.UsageUJ - b.UsageUJ, IdleUJ: z.IdleUJ - b.IdleUJ}
}
