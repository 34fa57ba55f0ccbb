package track

import (
	"math"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/share"
)

// TestCSVRowCodeCarbonSemantics: the command's row carries energy and
// water with PUE included, as CodeCarbon writes them, and its mean IT
// power (CodeCarbon does not apply PUE to power).
func TestCSVRowCodeCarbonSemantics(t *testing.T) {
	const kwh = 3.6e12 // µJ
	r := Result{
		Duration:      time.Hour,
		Energy:        Energy{PUE: 1.5, WUE: 2},
		CommandUJ:     kwh,
		CommandZoneUJ: map[string]uint64{share.ZonePackage: 0.75 * kwh, share.ZoneDRAM: 0.25 * kwh},
		CommandGrams:  150, // 1 kWh × 1.5 × 100 g/kWh
		CommandLiters: 2,   // the VM's water: WUE × IT energy
	}
	row := r.CSVRow()
	for name, c := range map[string][2]float64{
		"energy_consumed": {row.EnergyKWh, 1.5},
		"cpu_energy":      {row.CPUEnergyKWh, 0.75 * 1.5},
		"ram_energy":      {row.RAMEnergyKWh, 0.25 * 1.5},
		"water_consumed":  {row.WaterL, 2 * 1.5},
		"cpu_power":       {*row.CPUPowerW, 0.75 * kwh / 1e6 / 3600},
		"intensity":       {row.EmissionsKg * 1000 / row.EnergyKWh, 100},
	} {
		if math.Abs(c[0]-c[1]) > 1e-9 {
			t.Errorf("%s = %v, want %v", name, c[0], c[1])
		}
	}
}
