package hostagent

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"

	"github.com/virtwatt/virtwatt/hostagent/meter"
)

// matchZones checks the counted zones against what the meter really has:
// a missing dram zone (AMD, some Intel parts) is dropped with a warning, so
// that no share publishes a dram counter stuck at zero; a missing package
// or psys zone is an error.
func matchZones(cfg *Config, m meter.Meter, log *slog.Logger) error {
	rs, err := m.Read()
	if err != nil {
		return fmt.Errorf("first reading of the %s meter: %w", m.Name(), err)
	}
	have := map[string]bool{}
	for _, r := range rs {
		have[r.Kind] = true
	}
	var zones []string
	for _, z := range cfg.Zones {
		switch {
		case have[z]:
			zones = append(zones, z)
		case z == meter.KindDRAM:
			log.Warn("the meter has no dram zone: only the package is counted and shares carry no dram counter", "meter", m.Name())
		default:
			return fmt.Errorf("counted zone %q: the %s meter has none (it has %v); set zones in the config to what it has", z, m.Name(), slices.Sorted(maps.Keys(have)))
		}
	}
	cfg.Zones = zones
	return nil
}
