package fakerapl

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// SetPowerW sets the mean power of the zone in directory dir
// (intel-rapl:N[:M]) for the next steps.
func (t *Tree) SetPowerW(dir string, w float64) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, z := range t.zones {
		if z.spec.Dir() == dir {
			z.spec.PowerW = w
			return nil
		}
	}
	return fmt.Errorf("fakerapl: no zone %s", dir)
}

// CurveHost is a fake host whose power is a known function of its busy
// CPUs: one socket whose package zone draws IdleW + MarginalW × busy and
// whose dram zone DRAMIdleW + DRAMMarginalW × busy (each with the tree's
// relative noise), and a fake /proc/stat (<ProcRoot>/stat) whose busy time
// advances by busy × dt. Step advances both together.
type CurveHost struct {
	Tree     *Tree
	ProcRoot string
	CPUs     int

	IdleW, MarginalW         float64
	DRAMIdleW, DRAMMarginalW float64

	mu     sync.Mutex
	busyNS float64 // exact busy time, ns; /proc/stat shows it in 10 ms ticks
	idleNS float64
}

// NewCurveHost builds the tree and /proc/stat under base.
func NewCurveHost(base string, cpus int, idleW, marginalW, dramIdleW, dramMarginalW, noise float64, seed uint64) (*CurveHost, error) {
	if cpus < 1 {
		return nil, fmt.Errorf("fakerapl: cpus %d", cpus)
	}
	spec := Standard(1, idleW, dramIdleW, time.Hour)
	tr, err := New(base, spec, noise, seed)
	if err != nil {
		return nil, err
	}
	h := &CurveHost{Tree: tr, ProcRoot: filepath.Join(base, "proc"), CPUs: cpus,
		IdleW: idleW, MarginalW: marginalW, DRAMIdleW: dramIdleW, DRAMMarginalW: dramMarginalW}
	if err := os.MkdirAll(h.ProcRoot, 0o755); err != nil {
		return nil, fmt.Errorf("fakerapl: %w", err)
	}
	return h, h.writeStat()
}

// PackageW is the true (noise-free) package power at busy CPUs.
func (h *CurveHost) PackageW(busy float64) float64 { return h.IdleW + h.MarginalW*busy }

// Step advances dt at busy CPUs (clamped to 0..CPUs): the zones at the
// curve's power, /proc/stat by busy × dt of busy time.
func (h *CurveHost) Step(dt time.Duration, busy float64) error {
	busy = math.Min(math.Max(busy, 0), float64(h.CPUs))
	if err := h.Tree.SetPowerW("intel-rapl:0", h.PackageW(busy)); err != nil {
		return err
	}
	if err := h.Tree.SetPowerW("intel-rapl:0:0", h.PackageW(busy)/2); err != nil {
		return err
	}
	if err := h.Tree.SetPowerW("intel-rapl:0:1", h.DRAMIdleW+h.DRAMMarginalW*busy); err != nil {
		return err
	}
	if err := h.Tree.Step(dt); err != nil {
		return err
	}
	h.mu.Lock()
	h.busyNS += busy * float64(dt.Nanoseconds())
	h.idleNS += (float64(h.CPUs) - busy) * float64(dt.Nanoseconds())
	h.mu.Unlock()
	return h.writeStat()
}

// writeStat writes <ProcRoot>/stat: the busy time as user ticks (USER_HZ
// 100), spread evenly over the cpuN lines.
func (h *CurveHost) writeStat() error {
	h.mu.Lock()
	busy, idle := uint64(h.busyNS/1e7), uint64(h.idleNS/1e7)
	h.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "cpu  %d 0 0 %d 0 0 0 0 0 0\n", busy, idle)
	n := uint64(h.CPUs)
	for i := uint64(0); i < n; i++ {
		bi, ii := busy/n, idle/n
		if i == 0 {
			bi, ii = busy-busy/n*(n-1), idle-idle/n*(n-1)
		}
		fmt.Fprintf(&b, "cpu%d %d 0 0 %d 0 0 0 0 0 0\n", i, bi, ii)
	}
	b.WriteString("intr 0\nctxt 0\n")
	return writeAtomic(h.ProcRoot, "stat", b.String())
}
