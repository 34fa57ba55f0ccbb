// Package fakerapl builds a fake powercap sysfs tree (the shape of
// /sys/class/powercap with the intel_rapl driver loaded) and advances its
// energy counters at a known power, with noise, wrapping at a small
// max_energy_range_uj so that a run sees counter wraps.
//
// The tree mirrors the kernel's: zone directories live under
// <base>/devices/virtual/powercap/intel-rapl/intel-rapl:N[/intel-rapl:N:M] and
// <base>/class/powercap holds one symlink per zone, so a reader pointed at
// Root() sees exactly what it would see on a real host. Every counter update
// is a write to a temporary file renamed over energy_uj: a reader never sees
// a torn value.
package fakerapl

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// ZoneSpec describes one zone of the fake tree.
type ZoneSpec struct {
	Socket     int     // N of intel-rapl:N
	Sub        int     // M of intel-rapl:N:M; -1 for the package zone itself
	Name       string  // content of the name file: "package-0", "core", "dram", ...
	PowerW     float64 // mean power the counter advances at
	MaxRangeUJ uint64  // max_energy_range_uj; the counter wraps to 0 there
}

// Dir is the zone's directory name: intel-rapl:N or intel-rapl:N:M.
func (z ZoneSpec) Dir() string {
	if z.Sub < 0 {
		return fmt.Sprintf("intel-rapl:%d", z.Socket)
	}
	return fmt.Sprintf("intel-rapl:%d:%d", z.Socket, z.Sub)
}

// Standard returns the zones of a host with the given number of sockets,
// each with a package zone at pkgW, a core zone at half of it (a zone
// virtwatt does not count) and a dram zone at dramW. Every counter's
// max_energy_range_uj is what its mean power accumulates in wrapEvery, so
// each wraps about that often.
func Standard(sockets int, pkgW, dramW float64, wrapEvery time.Duration) []ZoneSpec {
	rng := func(w float64) uint64 { return uint64(w * wrapEvery.Seconds() * 1e6) }
	var zs []ZoneSpec
	for s := 0; s < sockets; s++ {
		zs = append(zs,
			ZoneSpec{Socket: s, Sub: -1, Name: fmt.Sprintf("package-%d", s), PowerW: pkgW, MaxRangeUJ: rng(pkgW)},
			ZoneSpec{Socket: s, Sub: 0, Name: "core", PowerW: pkgW / 2, MaxRangeUJ: rng(pkgW / 2)},
			ZoneSpec{Socket: s, Sub: 1, Name: "dram", PowerW: dramW, MaxRangeUJ: rng(dramW)},
		)
	}
	return zs
}

// Tree is a fake powercap tree. Its methods are safe for concurrent use.
type Tree struct {
	base  string
	noise float64
	rng   *rand.Rand

	mu    sync.Mutex
	zones []*zone
}

type zone struct {
	spec  ZoneSpec
	path  string  // real directory of the zone
	total uint64  // unwrapped µJ since creation
	shown uint64  // unwrapped µJ since creation or the last Reset: what the counter shows, modulo range
	frac  float64 // sub-µJ remainder carried between steps
	wraps int
}

// New creates the tree under base (which must exist) with every counter at
// 0. noise is the relative amplitude of the power noise per step (0.05 is
// ±5 %); seed makes the noise reproducible.
func New(base string, specs []ZoneSpec, noise float64, seed uint64) (*Tree, error) {
	if len(specs) == 0 {
		return nil, errors.New("fakerapl: no zones given")
	}
	t := &Tree{base: base, noise: noise, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	devRoot := filepath.Join(base, "devices", "virtual", "powercap", "intel-rapl")
	if err := os.MkdirAll(t.Root(), 0o755); err != nil {
		return nil, fmt.Errorf("fakerapl: %w", err)
	}
	if err := os.MkdirAll(devRoot, 0o755); err != nil {
		return nil, fmt.Errorf("fakerapl: %w", err)
	}
	// The control type directory, as the kernel has it; not a zone.
	if err := os.WriteFile(filepath.Join(devRoot, "enabled"), []byte("1\n"), 0o644); err != nil {
		return nil, fmt.Errorf("fakerapl: %w", err)
	}
	if err := os.Symlink(devRoot, filepath.Join(t.Root(), "intel-rapl")); err != nil {
		return nil, fmt.Errorf("fakerapl: %w", err)
	}
	for _, s := range specs {
		if s.MaxRangeUJ == 0 {
			return nil, fmt.Errorf("fakerapl: zone %s: MaxRangeUJ must be > 0", s.Dir())
		}
		dir := filepath.Join(devRoot, s.Dir())
		if s.Sub >= 0 {
			dir = filepath.Join(devRoot, fmt.Sprintf("intel-rapl:%d", s.Socket), s.Dir())
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("fakerapl: %w", err)
		}
		files := map[string]string{
			"name":                s.Name + "\n",
			"max_energy_range_uj": strconv.FormatUint(s.MaxRangeUJ, 10) + "\n",
			"enabled":             "1\n",
			"energy_uj":           "0\n",
		}
		for f, v := range files {
			if err := os.WriteFile(filepath.Join(dir, f), []byte(v), 0o444); err != nil {
				return nil, fmt.Errorf("fakerapl: %w", err)
			}
		}
		if err := os.Symlink(dir, filepath.Join(t.Root(), s.Dir())); err != nil {
			return nil, fmt.Errorf("fakerapl: %w", err)
		}
		t.zones = append(t.zones, &zone{spec: s, path: dir})
	}
	return t, nil
}

// Root is the directory to give a reader as its powercap root
// (the equivalent of /sys/class/powercap).
func (t *Tree) Root() string { return filepath.Join(t.base, "class", "powercap") }

// Step advances every counter by its power over dt, with noise, and writes
// the new values.
func (t *Tree) Step(dt time.Duration) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, z := range t.zones {
		f := 1 + t.noise*(2*t.rng.Float64()-1)
		uj := z.spec.PowerW*f*dt.Seconds()*1e6 + z.frac
		whole := uint64(uj)
		z.frac = uj - float64(whole)
		before := z.shown % z.spec.MaxRangeUJ
		z.total += whole
		z.shown += whole
		if z.shown%z.spec.MaxRangeUJ < before || whole >= z.spec.MaxRangeUJ {
			z.wraps++
		}
		if err := writeAtomic(z.path, "energy_uj", strconv.FormatUint(z.shown%z.spec.MaxRangeUJ, 10)+"\n"); err != nil {
			return err
		}
	}
	return nil
}

// Reset restarts every counter at startUJ, as a reboot or a reload of the
// RAPL driver does: the energy used from then on is still added to Totals,
// but the counters no longer say how much was used before.
func (t *Tree) Reset(startUJ uint64) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, z := range t.zones {
		z.shown = startUJ % z.spec.MaxRangeUJ
		if err := writeAtomic(z.path, "energy_uj", strconv.FormatUint(z.shown, 10)+"\n"); err != nil {
			return err
		}
	}
	return nil
}

// Run calls Step every period until ctx is done, and returns the first
// write error, or nil when ctx ends.
func (t *Tree) Run(ctx context.Context, period time.Duration) error {
	tick := time.NewTicker(period)
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick.C:
			if err := t.Step(now.Sub(last)); err != nil {
				return err
			}
			last = now
		}
	}
}

// Totals is the unwrapped energy (µJ) each zone has accumulated, keyed by
// zone directory (intel-rapl:N[:M]), and how often each counter wrapped.
func (t *Tree) Totals() (totalUJ map[string]uint64, wraps map[string]int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	totalUJ, wraps = map[string]uint64{}, map[string]int{}
	for _, z := range t.zones {
		totalUJ[z.spec.Dir()] = z.total
		wraps[z.spec.Dir()] = z.wraps
	}
	return totalUJ, wraps
}

// writeAtomic replaces dir/name with content through a rename, so that a
// concurrent reader sees the old or the new value, never a partial one.
func writeAtomic(dir, name, content string) error {
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o444); err != nil {
		return fmt.Errorf("fakerapl: write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("fakerapl: rename %s: %w", tmp, err)
	}
	return nil
}
