package share

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
)

// Tree is the powercap-shaped part of a VM's share directory: the VM's
// cumulative package (and, where measured, dram) energy in µJ, wrapped at
// the zone's max range like a real RAPL counter. A max range of 0 means
// the share does not give it (Scaphandre's qemu exporter writes energy_uj
// alone, a u64 that never wraps): unknown.
type Tree struct {
	PackageUJ, PackageMaxUJ uint64
	HasDRAM                 bool
	DRAMUJ, DRAMMaxUJ       uint64
}

// ReadTree reads the powercap-shaped tree under dir (a VM's share
// directory), confined to dir like every share read (see Dir.ReadFile).
func ReadTree(dir string) (Tree, error) {
	d, err := OpenDir(dir)
	if err != nil {
		return Tree{}, err
	}
	defer d.Close()
	return d.ReadTree()
}

// ReadTree reads the tree beneath d. It accepts both shapes found in the
// wild:
//   - virtwatt-host's: {name,energy_uj,max_energy_range_uj} per zone;
//   - Scaphandre's qemu exporter's: PackageZoneDir/energy_uj alone (no
//     name, no max range).
//
// A max_energy_range_uj that is absent leaves the zone's max range at 0
// (unknown); one that is present must be > 0 and not below the counter. A
// dram zone whose energy_uj is missing (not measured, or not yet written)
// leaves HasDRAM false. Reads are bounded by MaxFileSize; a value that is
// not an unsigned decimal integer gives ErrGarbled, naming the file and
// never quoting it.
func (d *Dir) ReadTree() (Tree, error) {
	var t Tree
	var err error
	if t.PackageUJ, t.PackageMaxUJ, err = d.readZone(PackageZoneDir); err != nil {
		return Tree{}, err
	}
	t.DRAMUJ, t.DRAMMaxUJ, err = d.readZone(DRAMZoneDir)
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

// readZone reads one zone's counter and, when present, its max range (0
// when absent: unknown).
func (d *Dir) readZone(zoneDir string) (energy, maxRange uint64, err error) {
	energyName := path.Join(zoneDir, EnergyFile)
	if energy, err = d.readUint(energyName); err != nil {
		return 0, 0, err
	}
	maxName := path.Join(zoneDir, MaxRangeFile)
	maxRange, err = d.readUint(maxName)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return energy, 0, nil
	case err != nil:
		return 0, 0, err
	case maxRange == 0:
		return 0, 0, fmt.Errorf("%s: %w: max range is 0", d.display(maxName), ErrGarbled)
	case energy > maxRange:
		return 0, 0, fmt.Errorf("%s: %w: counter %d is above the zone's max range %d", d.display(energyName), ErrGarbled, energy, maxRange)
	}
	return energy, maxRange, nil
}

// readUint reads a file holding one unsigned decimal integer and a
// trailing newline, as powercap files do.
func (d *Dir) readUint(name string) (uint64, error) {
	b, err := d.ReadFile(name, MaxFileSize)
	if err != nil {
		return 0, err
	}
	s := bytes.TrimSpace(b)
	v, err := strconv.ParseUint(string(s), 10, 64)
	if err != nil {
		// The content is the share author's: its length, never itself.
		return 0, fmt.Errorf("%s: %w: %d bytes that are not an unsigned decimal integer of 64 bits", d.display(name), ErrGarbled, len(s))
	}
	return v, nil
}
