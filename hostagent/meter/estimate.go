package meter

import (
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/virtwatt/virtwatt/estimate"
	"github.com/virtwatt/virtwatt/internal/procinfo"
	"github.com/virtwatt/virtwatt/internal/procstat"
	"github.com/virtwatt/virtwatt/share"
)

// EstimatorName is the Name of the estimating meter.
const EstimatorName = "estimate"

// EstimateOptions configure NewEstimator.
type EstimateOptions struct {
	// ProcRoot holds cpuinfo, stat and meminfo (default /proc).
	ProcRoot string
	// Params are the model's figures (estimate.DefaultHostPowerParams()
	// for the documented defaults).
	Params estimate.HostPowerParams
	// Now is the clock the power is integrated over (default time.Now).
	Now func() time.Time
}

// Estimator is a Meter for a host without readable RAPL counters: it
// models the host's power (estimate.HostPower, model "tdp") from the CPU
// model, sockets and threads of <proc-root>/cpuinfo, the utilization of
// <proc-root>/stat between two Reads, and MemTotal of <proc-root>/meminfo,
// and integrates it into cumulative counters (estimate.Integrator).
//
// Invariants: the counters are integer µJ, start at 0 at the first Read,
// never go back and never wrap (they saturate); after any run of Reads the
// package counter is ⌊Σ µW(P_cpu(u_i)) × ns_i / 10⁹⌋ and the dram counter
// ⌊Σ µW(P_dram) × ns_i / 10⁹⌋, with u_i the utilization /proc/stat shows
// over step i (the last one known when the CPU times did not advance) and
// ns_i the step's length on Now (0 when the clock went back). It has one
// package zone (all sockets together, socket 0) and a dram zone when
// P_dram > 0. It is safe for concurrent use.
type Estimator struct {
	model    estimate.HostPower
	procRoot string
	statPath string
	memPath  string
	now      func() time.Time

	mu      sync.Mutex
	started bool
	last    time.Time
	lastCPU procstat.CPU
	util    float64
	cpu     estimate.Integrator
	dram    estimate.Integrator
}

// NewEstimator reads cpuinfo and meminfo once, builds the model and takes
// nothing else until the first Read. An unreadable cpuinfo or meminfo, or
// a stat file that does not parse, is an error naming the file.
func NewEstimator(o EstimateOptions) (*Estimator, error) {
	if o.ProcRoot == "" {
		o.ProcRoot = "/proc"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	c, err := procinfo.ReadCPU(o.ProcRoot)
	if err != nil {
		return nil, fmt.Errorf("meter estimate: CPU model: %w", err)
	}
	topo, err := procinfo.ReadTopology(o.ProcRoot)
	if err != nil {
		return nil, fmt.Errorf("meter estimate: sockets and threads: %w", err)
	}
	mem, err := procinfo.MemTotalBytes(o.ProcRoot)
	if err != nil {
		return nil, fmt.Errorf("meter estimate: memory size: %w", err)
	}
	if _, err := procstat.Read(o.ProcRoot); err != nil {
		return nil, fmt.Errorf("meter estimate: utilization: %w", err)
	}
	spec := estimate.HostSpec{CPUModel: c.ModelName, Sockets: topo.Sockets, Threads: topo.Threads, MemBytes: mem}
	return &Estimator{
		model:    estimate.NewHostPower(spec, o.Params),
		procRoot: o.ProcRoot,
		statPath: filepath.Join(o.ProcRoot, "stat"),
		memPath:  filepath.Join(o.ProcRoot, "meminfo"),
		now:      o.Now,
	}, nil
}

// Name is EstimatorName.
func (e *Estimator) Name() string { return EstimatorName }

// Model is the power model in use, for logs and doctor.
func (e *Estimator) Model() estimate.HostPower { return e.model }

// Provenance: estimated by model tdp.
func (e *Estimator) Provenance() Provenance {
	return Provenance{Method: share.MethodEstimated, Model: share.ModelTDP, CPUModel: e.model.Spec.CPUModel}
}

// Read advances the counters to now and returns them. A stat file that
// cannot be read is an error and advances nothing: the next good Read
// integrates the whole gap at the utilization over it.
func (e *Estimator) Read() ([]Reading, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	cpu, err := procstat.Read(e.procRoot)
	if err != nil {
		return nil, fmt.Errorf("meter estimate: %w", err)
	}
	if e.started {
		dt := max(now.Sub(e.last), 0)
		if busy, idle, ok := cpuDelta(e.lastCPU, cpu); ok && busy+idle > 0 {
			e.util = float64(busy) / float64(busy+idle)
		}
		e.cpu.Add(e.model.CPUWatts(e.util), dt)
		e.dram.Add(e.model.DRAMW, dt)
	}
	e.started, e.last, e.lastCPU = true, now, cpu
	rs := []Reading{{Kind: KindPackage, Socket: 0, Path: e.statPath, EnergyUJ: e.cpu.TotalUJ(),
		CeilingUW: ceilingFromLimits(estimate.Microwatts(e.model.MaxW))}}
	if e.model.DRAMW > 0 {
		rs = append(rs, Reading{Kind: KindDRAM, Socket: 0, Path: e.memPath, EnergyUJ: e.dram.TotalUJ(),
			CeilingUW: ceilingFromLimits(estimate.Microwatts(e.model.DRAMW))})
	}
	return rs, nil
}

// cpuDelta is the busy and idle time between two stat readings; ok is
// false when either went back (a CPU went offline, or a new boot).
func cpuDelta(prev, cur procstat.CPU) (busy, idle uint64, ok bool) {
	if cur.BusyNS < prev.BusyNS || cur.IdleNS < prev.IdleNS {
		return 0, 0, false
	}
	return cur.BusyNS - prev.BusyNS, cur.IdleNS - prev.IdleNS, true
}
