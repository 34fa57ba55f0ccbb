package share

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// FuzzReadTree writes arbitrary contents into a share's powercap files
// (package energy_uj and max_energy_range_uj, each present or not, and a
// dram zone) and reads them back with ReadTree: it must never panic, fail
// only with a sentinel or "not exist", return exactly the decimal values
// written, never a counter above a known max range, and never quote a file
// it could not parse in its error. The seed corpus is under
// testdata/fuzz/FuzzReadTree.
func FuzzReadTree(f *testing.F) {
	f.Add([]byte("123\n"), []byte("262143328850\n"), []byte("7\n"), byte(7))
	f.Fuzz(func(t *testing.T, energy, maxRange, dram []byte, present byte) {
		dir := t.TempDir()
		write := func(name string, b []byte) {
			p := filepath.Join(dir, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		pkgEnergy := filepath.Join(PackageZoneDir, EnergyFile)
		pkgMax := filepath.Join(PackageZoneDir, MaxRangeFile)
		if present&1 != 0 {
			write(pkgEnergy, energy)
		}
		if present&2 != 0 {
			write(pkgMax, maxRange)
		}
		if present&4 != 0 {
			write(filepath.Join(DRAMZoneDir, EnergyFile), dram)
			write(filepath.Join(DRAMZoneDir, MaxRangeFile), maxRange)
		}
		tree, err := ReadTree(dir)
		if err != nil {
			if !errors.Is(err, ErrGarbled) && !errors.Is(err, ErrEmpty) && !errors.Is(err, ErrTooLarge) &&
				!errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("error %v is none of the sentinels", err)
			}
			for _, b := range [][]byte{energy, maxRange, dram} {
				s := string(bytes.TrimSpace(b))
				if _, perr := strconv.ParseUint(s, 10, 64); perr == nil || len(s) < 4 || strings.Contains(dir+pkgMax, s) {
					continue
				}
				if strings.Contains(err.Error(), s) {
					t.Fatalf("error %q quotes a file's content", err)
				}
			}
			return
		}
		want, perr := strconv.ParseUint(string(bytes.TrimSpace(energy)), 10, 64)
		if perr != nil || tree.PackageUJ != want {
			t.Fatalf("package = %d from %q (parse %v)", tree.PackageUJ, energy, perr)
		}
		if tree.PackageMaxUJ != 0 && tree.PackageUJ > tree.PackageMaxUJ || tree.HasDRAM && tree.DRAMUJ > tree.DRAMMaxUJ {
			t.Fatalf("counter above its max range: %+v", tree)
		}
		if present&2 == 0 && tree.PackageMaxUJ != 0 {
			t.Fatalf("max range %d without a max range file", tree.PackageMaxUJ)
		}
		if tree.HasDRAM != (present&4 != 0) {
			t.Fatalf("HasDRAM = %v with dram files %v", tree.HasDRAM, present&4 != 0)
		}
	})
}
