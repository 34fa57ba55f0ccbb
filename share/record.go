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
//
// Schema 2 adds, all optional: provenance (Method, Model, IdleModel,
// CPUModel), the VM's cumulative embodied emissions (EmbodiedUG) and the
// grid intensity's zone and time. Everything a schema-1 record holds
// means the same in schema 2, so a host can still write schema 1 for
// guests that read no more (see Record.Downgrade); a schema-1 record is
// read as Method measured by Model rapl, IdleModel time (Provenance).
const (
	SchemaVersion    = 2
	MinSchemaVersion = 1
)

// Method says how an energy figure was obtained.
const (
	MethodMeasured  = "measured"  // read from hardware counters (RAPL)
	MethodEstimated = "estimated" // computed by a model, named by Model
)

// Models: how a measured figure was read or an estimated one computed.
const (
	ModelRAPL       = "rapl"       // measured: RAPL counters (powercap or MSR)
	ModelTDP        = "tdp"        // estimated: the CPU's TDP × utilization (estimate.TDP table)
	ModelCalibrated = "calibrated" // estimated: the host's own measured or calibrated power curve
	ModelCCF        = "ccf"        // estimated in the guest: Cloud Carbon Footprint coefficients
	ModelDemo       = "demo"       // simulated by virtwatt-host --demo: nothing was measured
)

// Idle models: how a zone's energy was split into idle (static) and usage
// (dynamic) parts.
const (
	IdleModelTime       = "time"       // idle energy ∝ idle CPU time (schema 1's only model)
	IdleModelFitted     = "fitted"     // static = the idle power learned from the host's history × Δt
	IdleModelCalibrated = "calibrated" // static = the idle power of a `virtwatt-host calibrate` run × Δt
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

	// Schema 2. Zero values are omitted, and mean "not said" (see
	// Provenance for what a reader assumes then).
	Method              string    `json:"method,omitempty"`                // MethodMeasured, MethodEstimated
	Model               string    `json:"model,omitempty"`                 // ModelRAPL, ModelTDP, ModelCalibrated
	IdleModel           string    `json:"idle_model,omitempty"`            // IdleModelTime, IdleModelFitted, IdleModelCalibrated
	CPUModel            string    `json:"cpu_model,omitempty"`             // the host CPU's model name, as /proc/cpuinfo says
	EmbodiedUG          uint64    `json:"embodied_ug,omitempty"`           // cumulative µg CO2e of embodied emissions charged to this VM since Instance began
	CarbonIntensityZone string    `json:"carbon_intensity_zone,omitempty"` // the grid zone of CarbonIntensity (live sources)
	CarbonIntensityTime time.Time `json:"carbon_intensity_time,omitzero"`  // when CarbonIntensity was published (live sources)
}

// Provenance is how the record's energy was obtained: its Method, Model
// and IdleModel, with what a schema-1 record (which says none) means —
// measured by RAPL, idle by time.
func (r *Record) Provenance() (method, model, idleModel string) {
	method, model, idleModel = r.Method, r.Model, r.IdleModel
	if method == "" {
		method, model = MethodMeasured, ModelRAPL
	}
	if idleModel == "" {
		idleModel = IdleModelTime
	}
	return method, model, idleModel
}

// Downgrade makes r a schema-1 record, for guests that read no newer:
// the schema-2 fields are cleared. It refuses (false) when that would
// misstate the energy — an estimated record, whose schema-1 form would
// read as measured.
func (r *Record) Downgrade() bool {
	if m, _, _ := r.Provenance(); m != MethodMeasured {
		return false
	}
	r.Schema = 1
	r.Method, r.Model, r.IdleModel, r.CPUModel = "", "", "", ""
	r.EmbodiedUG = 0
	r.CarbonIntensityZone, r.CarbonIntensityTime = "", time.Time{}
	return true
}

// ZoneEnergy is a VM's cumulative energy in one zone, split into the part
// from its own CPU usage and its share of the host's idle energy.
type ZoneEnergy struct {
	UsageUJ uint64 `json:"usage_uj"`
	IdleUJ  uint64 `json:"idle_uj"`
}

// TotalUJ is usage plus idle.
func (z ZoneEnergy) TotalUJ() uint64 { return z.UsageUJ + z.IdleUJ }
