package follow

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"

	"github.com/virtwatt/virtwatt/share"
)

// readTree reads the powercap-shaped tree under dir. It accepts both
// shapes found in the wild:
//   - virtwatt-host's: {name,energy_uj,max_energy_range_uj} per zone;
//   - Scaphandre's qemu exporter's: intel-rapl:0/energy_uj alone (no name,
//     no max range: a u64 that never wraps).
//
// A max_energy_range_uj that is absent leaves the zone's max range at 0,
// which means unknown (the accountant then never reads a counter that went
// backwards as a wrap). A max range that is present must be > 0 and not
// below the counter. A dram zone whose energy_uj is missing leaves HasDRAM
// false. Reads are bounded by share.MaxFileSize.
func readTree(dir string) (share.Tree, error) {
	var t share.Tree
	var err error
	if t.PackageUJ, t.PackageMaxUJ, err = readZone(filepath.Join(dir, share.PackageZoneDir)); err != nil {
		return share.Tree{}, err
	}
	t.DRAMUJ, t.DRAMMaxUJ, err = readZone(filepath.Join(dir, share.DRAMZoneDir))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		t.DRAMUJ, t.DRAMMaxUJ = 0, 0
	case err != nil:
		return share.Tree{}, err
	default:
		t.HasDRAM = true
	}
	return t, nil
}

// readZone reads one zone's counter and, when present, its max range (0
// when absent: unknown).
func readZone(zoneDir string) (energy, maxRange uint64, err error) {
	energyPath := filepath.Join(zoneDir, share.EnergyFile)
	if energy, err = readUint(energyPath); err != nil {
		return 0, 0, err
	}
	maxPath := filepath.Join(zoneDir, share.MaxRangeFile)
	maxRange, err = readUint(maxPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return energy, 0, nil
	case err != nil:
		return 0, 0, err
	case maxRange == 0:
		return 0, 0, fmt.Errorf("%s: %w: max range is 0", maxPath, share.ErrGarbled)
	case energy > maxRange:
		return 0, 0, fmt.Errorf("%s: %w: counter %d is above the zone's max range %d", energyPath, share.ErrGarbled, energy, maxRange)
	}
	return energy, maxRange, nil
}

// readUint reads a file holding one unsigned decimal integer and a
// trailing newline, as powercap files do.
func readUint(path string) (uint64, error) {
	b, err := share.ReadFileBounded(path, share.MaxFileSize)
	if err != nil {
		return 0, err
	}
	s := bytes.TrimSpace(b)
	v, err := strconv.ParseUint(string(s), 10, 64)
	if err != nil {
		if len(s) > 32 {
			s = append(s[:32:32], "…"...)
		}
		return 0, fmt.Errorf("%s: %w: %q is not an unsigned integer", path, share.ErrGarbled, s)
	}
	return v, nil
}
