// Package share is the contract between virtwatt-host and virtwatt-guest:
// the record type, the on-disk layout of a VM's share directory, the atomic
// writer used by the host and the bounded reader used by the guest.
//
// Nothing but the two agents imports this package.
package share

import "time"

// SchemaVersion is the version of Record written by this build. A reader
// accepts records with Schema in [MinSchemaVersion, SchemaVersion] and
// rejects others with ErrSchema.
const (
	SchemaVersion    = 1
	MinSchemaVersion = 1
)

// Zone names used in Record.Zones and in the powercap tree.
const (
	ZonePackage = "package"
	ZoneDRAM    = "dram"
)

// Record is the versioned JSON document the host writes into each VM's
// share directory (RecordFile). All energy figures are the VM's own
// cumulative microjoules since Instance began; they never go backwards
// while Instance stays the same.
type Record struct {
	Schema   int    `json:"schema"`
	Host     string `json:"host"`
	Domain   string `json:"domain"`
	UUID     string `json:"uuid"`
	Instance string `json:"instance"` // changes only when counters genuinely restart
	Sequence uint64 `json:"sequence"` // +1 per write within an Instance

	Timestamp       time.Time `json:"timestamp"`        // host clock at the reading
	IntervalSeconds float64   `json:"interval_seconds"` // the host's tick interval

	Zones map[string]ZoneEnergy `json:"zones"` // keyed by ZonePackage, ZoneDRAM

	VCPUs      int    `json:"vcpus"`
	VCPUTimeNS uint64 `json:"vcpu_time_ns"` // cumulative vCPU time seen by the host
	CPUTimeNS  uint64 `json:"cpu_time_ns"`  // cumulative total (vCPU + emulator) time

	PUE                   float64           `json:"pue,omitempty"`
	WUE                   float64           `json:"wue_liters_per_kwh,omitempty"`
	CarbonIntensity       float64           `json:"carbon_intensity_g_per_kwh,omitempty"`
	CarbonIntensitySource string            `json:"carbon_intensity_source,omitempty"`
	EmbodiedGramsPerHour  float64           `json:"embodied_g_per_hour,omitempty"` // this VM's share of the host's embodied emissions
	EmbodiedSource        string            `json:"embodied_source,omitempty"`
	Labels                map[string]string `json:"labels,omitempty"`
}

// ZoneEnergy is a VM's cumulative energy in one zone, split into the part
// from its own CPU usage and its share of the host's idle energy.
type ZoneEnergy struct {
	UsageUJ uint64 `json:"usage_uj"`
	IdleUJ  uint64 `json:"idle_uj"`
}

// TotalUJ is usage plus idle.
func (z ZoneEnergy) TotalUJ() uint64 { return z.UsageUJ + z.IdleUJ }
