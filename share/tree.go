package share

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
)

// Tree is the powercap-shaped part of a VM's share directory: the VM's
// cumulative package (and, where measured, dram) energy in µJ, wrapped at
// the zone's max range like a real RAPL counter.
type Tree struct {
	PackageUJ, PackageMaxUJ uint64
	HasDRAM                 bool
	DRAMUJ, DRAMMaxUJ       uint64
}

// ReadTree reads the powercap-shaped tree under dir (a VM's share
// directory): PackageZoneDir/{energy_uj,max_energy_range_uj} and, when
// DRAMZoneDir holds an energy_uj, the same for dram. Reads are bounded by
// MaxFileSize; a value that is not an unsigned decimal integer, a max range
// of 0 or a counter above its max range gives ErrGarbled, naming the file.
// A dram zone whose energy_uj is missing (not measured, or not yet written)
// leaves HasDRAM false.
func ReadTree(dir string) (Tree, error) {
	var t Tree
	var err error
	if t.PackageUJ, t.PackageMaxUJ, err = readZone(filepath.Join(dir, PackageZoneDir)); err != nil {
		return Tree{}, err
	}
	t.DRAMUJ, t.DRAMMaxUJ, err = readZone(filepath.Join(dir, DRAMZoneDir))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		t.DRAMUJ, t.DRAMMaxUJ = 0, 0
	case err != nil:
		return Tree{}, err
	default:
		t.HasDRAM = true
	}
	return t, nil
}

// readZone reads one zone's counter and max range.
func readZone(zoneDir string) (energy, maxRange uint64, err error) {
	energyPath := filepath.Join(zoneDir, EnergyFile)
	if energy, err = readUint(energyPath); err != nil {
		return 0, 0, err
	}
	maxPath := filepath.Join(zoneDir, MaxRangeFile)
	if maxRange, err = readUint(maxPath); err != nil {
		return 0, 0, err
	}
	if maxRange == 0 {
		return 0, 0, fmt.Errorf("%s: %w: max range is 0", maxPath, ErrGarbled)
	}
	if energy > maxRange {
		return 0, 0, fmt.Errorf("%s: %w: counter %d is above the zone's max range %d", energyPath, ErrGarbled, energy, maxRange)
	}
	return energy, maxRange, nil
}

// readUint reads a file holding one unsigned decimal integer and a
// trailing newline, as powercap files do.
func readUint(path string) (uint64, error) {
	b, err := ReadFileBounded(path, MaxFileSize)
	if err != nil {
		return 0, err
	}
	s := bytes.TrimSpace(b)
	v, err := strconv.ParseUint(string(s), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w: %q is not an unsigned integer", path, ErrGarbled, truncate(s, 32))
	}
	return v, nil
}

// truncate shortens b for an error message.
func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
