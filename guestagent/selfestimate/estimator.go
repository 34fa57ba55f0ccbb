// Package selfestimate is where a guest's energy comes from when no share
// is usable: the VM's own power estimated the Cloud Carbon Footprint way,
// from the guest's /proc, and the switching between that estimate and the
// share (Source).
//
// The estimate, per step between two polls (package estimate's CCF
// functions): CPU (zone "package") = vCPUs × (min + (max − min) × u), with
// u the guest's busy share of its CPU time over the step (/proc/stat,
// steal time excluded: the host ran something else then) and
// min/max the per-vCPU watts of the CPU microarchitecture /proc/cpuinfo
// names (CCF's average when it is not recognised, said once); memory (zone
// "dram") = MemTotal × 0.392 W/GB. The CPU's min part and the memory are
// idle (static) energy, the rest dynamic. A /proc no VM has is refused,
// said once, never saturating a counter within the hour: a MemTotal whose
// memory power alone would exceed account.MaxPlausibleWatts leaves memory
// out, and a step whose CPU power would (a /proc/stat naming ~2,500 vCPUs
// or more) gives no energy. Energy is integer µJ: the
// static and dynamic parts of the package and dram are each integrated
// exactly by an estimate.Integrator (the power at the µW times the step
// in ns, fractions of a µJ carried), so that each is the integral of its
// power to the µJ, and the package is their sum.
package selfestimate

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/virtwatt/virtwatt/estimate"
	"github.com/virtwatt/virtwatt/guestagent/account"
	"github.com/virtwatt/virtwatt/internal/procinfo"
	"github.com/virtwatt/virtwatt/internal/procstat"
	"github.com/virtwatt/virtwatt/internal/saturate"
	"github.com/virtwatt/virtwatt/share"
)

// DefaultMaxStep is the longest step estimated: a longer gap between two
// steps (a VM suspended, a poll loop stuck) starts a new baseline, its
// energy unknown rather than guessed.
const DefaultMaxStep = 5 * time.Minute

// Estimator estimates the VM's energy from the guest's /proc. It is not
// safe for concurrent use.
type Estimator struct {
	statPath string
	coef     estimate.CCFCoefficients
	known    bool   // coef is the microarchitecture's own, not CCF's average
	memBytes uint64 // the memory the estimate counts (0: unknown, left out)
	maxStep  time.Duration
	log      *slog.Logger

	have     bool
	last     procstat.Ticks // /proc/stat as read at readTime
	readTime time.Time
	lastTime time.Time // where the next step starts (Mark may move it past readTime)
	// The package's static and dynamic parts and dram, each integrated
	// exactly (estimate.Integrator: µW × ns, the µJ fractions carried).
	static, dynamic, dram estimate.Integrator
	warnedGap             bool
	warnedCPUs            bool   // a /proc/stat with an absurd vCPU count was said
	announce              func() // logs what the estimate uses, on the first step; then nil
}

// Options configure an Estimator.
type Options struct {
	ProcRoot string        // default "/proc"
	MaxStep  time.Duration // default DefaultMaxStep
	Logger   *slog.Logger
}

// New reads the CPU and memory from <ProcRoot>/cpuinfo and meminfo, once;
// the first Step says in the log what the estimate uses. A cpuinfo that
// cannot be read is an unknown CPU (CCF's average); a meminfo without
// MemTotal leaves memory out; both are said then. Only the embedded table
// failing to load is an error.
func New(o Options) (*Estimator, error) {
	if o.ProcRoot == "" {
		o.ProcRoot = "/proc"
	}
	if o.MaxStep <= 0 {
		o.MaxStep = DefaultMaxStep
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	e := &Estimator{statPath: filepath.Join(o.ProcRoot, "stat"), maxStep: o.MaxStep, log: o.Logger}
	cpu, cerr := procinfo.ReadCPU(o.ProcRoot)
	arch := estimate.CCFMicroarchitecture(cpu.VendorID, cpu.Family, cpu.Model, cpu.Stepping, cpu.ModelName)
	coef, known, err := estimate.CCFFor(arch)
	if err != nil {
		return nil, fmt.Errorf("selfestimate: %w", err)
	}
	e.coef, e.known = coef, known
	e.memBytes, _ = procinfo.MemTotalBytes(o.ProcRoot)
	absurdMem := e.memBytes
	if estimate.CCFMemoryWatts(absurdMem) <= account.MaxPlausibleWatts {
		absurdMem = 0
	} else {
		e.memBytes = 0 // no VM has that much memory: left out, not a counter saturated within the hour
	}
	e.announce = func() {
		e.describe(cpu, cerr)
		switch {
		case absurdMem > 0:
			e.log.Warn("guest estimate: MemTotal in meminfo is more memory than any VM has: memory power left out of the estimate",
				"file", filepath.Join(o.ProcRoot, "meminfo"), "memtotal_bytes", absurdMem,
				"watts", estimate.CCFMemoryWatts(absurdMem), "max_watts", account.MaxPlausibleWatts)
		case e.memBytes == 0:
			e.log.Warn("guest estimate: memory size unknown (no MemTotal in meminfo): memory power left out of the estimate")
		}
	}
	return e, nil
}

// describe logs, once, what the estimate uses and what it could not know.
func (e *Estimator) describe(cpu procinfo.CPU, cerr error) {
	args := []any{"coefficients", fmt.Sprintf("%s %d", estimate.CCFSource, estimate.CCFYear),
		"cpu_model", cpu.ModelName, "min_watts_per_vcpu", e.coef.MinWatts, "max_watts_per_vcpu", e.coef.MaxWatts,
		"memory_gib", float64(e.memBytes) / (1 << 30), "memory_watts_per_gb", estimate.CCFMemoryWattsPerGB}
	switch {
	case cerr != nil:
		e.log.Warn("guest estimate: CPU unknown (cpuinfo unreadable): using Cloud Carbon Footprint's average across microarchitectures",
			append(args, "err", cerr)...)
	case !e.known:
		e.log.Warn("guest estimate: CPU microarchitecture not in Cloud Carbon Footprint's table: using its average across microarchitectures",
			append(args, "vendor", cpu.VendorID, "family", cpu.Family, "model", cpu.Model, "stepping", cpu.Stepping)...)
	default:
		e.log.Info("guest estimate: Cloud Carbon Footprint coefficients of the CPU's microarchitecture",
			append(args, "microarchitecture", e.coef.Microarchitecture)...)
	}
}

// MarkReadEvery is how old Mark lets its /proc/stat reading grow before it
// reads the file again.
const MarkReadEvery = 10 * time.Second

// Mark takes now as the start of the next step, without estimating (the
// share measured the time before). The share is up while Mark is called,
// once a poll, so it reads /proc/stat only when its last reading is
// MarkReadEvery old: the next step's energy covers the time from now, by
// the guest's CPU use since that reading — up to MarkReadEvery more than
// the step itself. The utilization of the first step after the share is
// lost is averaged over that much more; no time is counted twice.
func (e *Estimator) Mark(now time.Time) error {
	if e.have && !now.Before(e.readTime) && now.Sub(e.readTime) < MarkReadEvery {
		e.lastTime = now
		return nil
	}
	t, err := procstat.ReadTicks(e.statPath)
	if err != nil {
		e.have = false
		return err
	}
	e.have, e.last, e.lastTime, e.readTime = true, t, now, now
	return nil
}

// Step estimates the energy since the last Step or Mark, at now. The first
// step, one after a gap longer than MaxStep, one over which the clock or
// /proc/stat's counters went back, and one with no CPU time elapsed give
// no energy and no power: they are baselines.
func (e *Estimator) Step(now time.Time) (account.Estimate, error) {
	out := account.Estimate{Model: share.ModelCCF}
	if e.announce != nil {
		e.announce()
		e.announce = nil
	}
	t, err := procstat.ReadTicks(e.statPath)
	if err != nil {
		e.have = false
		return out, fmt.Errorf("guest estimate: %w", err)
	}
	prev, prevTime, had := e.last, e.lastTime, e.have
	dt := now.Sub(prevTime)
	if had && t.Total() == prev.Total() && dt >= 0 && dt <= e.maxStep {
		return out, nil // no tick elapsed yet (polls closer than 10 ms): keep the baseline
	}
	e.have, e.last, e.lastTime, e.readTime = true, t, now, now
	switch {
	case !had:
		return out, nil
	case dt <= 0 || t.Busy < prev.Busy || t.Total() < prev.Total() || t.Steal < prev.Steal:
		return out, nil
	case dt > e.maxStep:
		if !e.warnedGap {
			e.warnedGap = true
			e.log.Warn("guest estimate: a gap longer than the longest step; its energy is not estimated (further gaps are not logged)",
				"gap", dt, "max_step", e.maxStep)
		}
		return out, nil
	}
	// Steal time is the host's CPUs running something else while this VM
	// waited: not this VM's power.
	u := float64(t.Busy-prev.Busy-min(t.Steal-prev.Steal, t.Busy-prev.Busy)) / float64(t.Total()-prev.Total())
	vcpus := max(t.CPUs, 1)
	cpuW := estimate.CCFCPUWatts(e.coef, vcpus, u)
	if cpuW > account.MaxPlausibleWatts {
		if !e.warnedCPUs {
			e.warnedCPUs = true
			e.log.Warn("guest estimate: /proc/stat names more vCPUs than any VM has: no energy estimated while it does (said once)",
				"file", e.statPath, "vcpus", vcpus, "watts", cpuW, "max_watts", account.MaxPlausibleWatts)
		}
		return out, nil
	}
	staticW := estimate.CCFCPUWatts(e.coef, vcpus, 0)
	memW := estimate.CCFMemoryWatts(e.memBytes)
	dyn := e.dynamic.Add(cpuW-staticW, dt)
	pkg, _ := saturate.Add(e.static.Add(staticW, dt), dyn)
	out.EnergyUJ = map[string]uint64{share.ZonePackage: pkg}
	out.DynamicUJ = map[string]uint64{share.ZonePackage: dyn}
	out.PowerW = map[string]float64{share.ZonePackage: cpuW}
	if e.memBytes > 0 {
		out.EnergyUJ[share.ZoneDRAM] = e.dram.Add(memW, dt)
		out.PowerW[share.ZoneDRAM] = memW
	}
	return out, nil
}
