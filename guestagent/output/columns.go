package output

import (
	"math"
	"strconv"
	"strings"
)

// CodeCarbonColumns is the header of CodeCarbon's emissions.csv, in its
// order. The field set is CodeCarbon's EmissionsData dataclass,
// codecarbon/output_methods/emissions_data.py (mlco2/codecarbon, the version
// with cpu/ram utilization, water_consumed and wue); the order is the one
// CodeCarbon 3.2.5 writes (it moved the utilization fields after
// tracking_mode and added gpu_utilization_percent), as found in a published
// emissions.csv it produced.
//
// How CodeCarbon checks an existing file's header depends on its version
// (codecarbon/output_methods/file.py, FileOutput.has_valid_headers): some
// compare it with their own columns as an ordered list and back the file
// up on any difference, order included; later ones compare the sorted
// names, and then append their rows in their own column order without
// mapping them to the file's. Either way only a file whose header is
// exactly a version's columns in that version's order is safe to share
// with it, so the CSV output appends only to a file whose header is
// exactly CodeCarbonColumns, and moves any other aside (see CSV).
var CodeCarbonColumns = []string{
	"timestamp", "project_name", "run_id", "experiment_id",
	"duration", "emissions", "emissions_rate",
	"cpu_power", "gpu_power", "ram_power",
	"cpu_energy", "gpu_energy", "ram_energy", "energy_consumed", "water_consumed",
	"country_name", "country_iso_code", "region", "cloud_provider", "cloud_region",
	"os", "python_version", "codecarbon_version",
	"cpu_count", "cpu_model", "gpu_count", "gpu_model",
	"longitude", "latitude", "ram_total_size", "tracking_mode",
	"cpu_utilization_percent", "gpu_utilization_percent", "ram_utilization_percent", "ram_used_gb",
	"on_cloud", "pue", "wue",
}

// TimestampLayout is CodeCarbon's timestamp format (%Y-%m-%dT%H:%M:%S).
const TimestampLayout = "2006-01-02T15:04:05"

// Row is one line of emissions.csv, in CodeCarbon's units and meaning:
// the energy and water fields include PUE (see CSV). A nil pointer writes
// an empty cell (unknown or not measured, never a fake 0).
type Row struct {
	Timestamp    string
	ProjectName  string
	RunID        string
	ExperimentID string
	DurationS    float64
	EmissionsKg  float64
	EmissionsKgS float64 // emissions_rate: kg per second
	CPUPowerW    *float64
	GPUPowerW    *float64 // nil (empty): no GPU measured
	RAMPowerW    *float64
	CPUEnergyKWh float64
	GPUEnergyKWh *float64 // nil (empty): no GPU measured
	RAMEnergyKWh float64
	EnergyKWh    float64 // energy_consumed: every zone, PUE included
	WaterL       float64 // WUE × energy_consumed
	Location
	Machine
	TrackingMode string // "machine" (the whole VM) or "process" (track)
	PUE, WUE     float64
}

// Location is where the energy was used, as configured.
type Location struct {
	CountryName, CountryISOCode, Region string
	CloudProvider, CloudRegion          string
}

// Machine describes the guest as CodeCarbon describes its machine.
type Machine struct {
	OS         string
	CPUCount   int
	CPUModel   string
	RAMTotalGB float64
	RAMUsedGB  *float64
	RAMUtilPct *float64
	CPUUtilPct *float64
}

// Record returns the row's cells in CodeCarbonColumns order.
func (r Row) Record() []string {
	onCloud := "N"
	if r.CloudProvider != "" {
		onCloud = "Y"
	}
	cpuCount := ""
	if r.CPUCount > 0 {
		cpuCount = strconv.Itoa(r.CPUCount)
	}
	ram := ""
	if r.RAMTotalGB > 0 {
		ram = pyFloat(r.RAMTotalGB)
	}
	return []string{
		r.Timestamp, r.ProjectName, r.RunID, r.ExperimentID,
		pyFloat(r.DurationS), pyFloat(r.EmissionsKg), pyFloat(r.EmissionsKgS),
		optFloat(r.CPUPowerW), optFloat(r.GPUPowerW), optFloat(r.RAMPowerW),
		pyFloat(r.CPUEnergyKWh), optFloat(r.GPUEnergyKWh), pyFloat(r.RAMEnergyKWh), pyFloat(r.EnergyKWh), pyFloat(r.WaterL),
		r.CountryName, r.CountryISOCode, r.Region, r.CloudProvider, r.CloudRegion,
		r.OS, "", "", // python_version, codecarbon_version: not Python, not CodeCarbon
		cpuCount, r.CPUModel, "", "", // no GPU measured
		"", "", ram, r.TrackingMode,
		optFloat(r.CPUUtilPct), "", optFloat(r.RAMUtilPct), optFloat(r.RAMUsedGB),
		onCloud, pyFloat(r.PUE), pyFloat(r.WUE),
	}
}

// pyFloat formats like Python's repr of a float, as pandas writes them:
// shortest round-trip digits, and "1.0" rather than "1".
func pyFloat(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return ""
	}
	if a := math.Abs(v); a != 0 && (a < 1e-4 || a >= 1e16) {
		return strconv.FormatFloat(v, 'e', -1, 64)
	}
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

func optFloat(v *float64) string {
	if v == nil {
		return ""
	}
	return pyFloat(*v)
}
