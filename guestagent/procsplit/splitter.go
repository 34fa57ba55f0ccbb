// Package procsplit splits the VM's measured energy across the guest's own
// processes by their CPU time, read from /proc inside the guest.
//
// Per tick, with E the VM's energy delta (µJ, every zone), T the guest's
// CPU time delta (busy + idle, clock ticks, all CPUs) and p_i a process's
// utime+stime delta:
//
//	process i:  E × p_i / T
//	idle:       E × idle / T           (virtwatt_guest_idle_energy_joules_total)
//	[system]:   E × (busy − Σp) / T    (interrupts, steal, kernel threads, and
//	                                    processes that lived and died between
//	                                    two scans)
//
// Shares are integer µJ split by largest remainder, so that
// Σ processes + [system] + idle = E to the µJ, every tick. Counters are read
// at slightly different instants: when Σp exceeds busy, busy is taken as Σp.
//
// Scanning every process is the split's whole cost (an open, a read and a
// close per process), so with Options.ScanInterval a Tick that comes sooner
// than that after the last scan only adds its energy to the pending energy,
// and the next scan splits all of it by the CPU time of the whole window:
// Σ per-command energy + idle + pending = the VM's energy since the first
// Tick, exactly, at every Tick, and pending is zero after each scan. The
// trade-off, with an interval of 5 s at a 1 s share: process power is the
// average over the last window (up to 5 s, published up to 5 s late); a
// process that lived and died inside one window falls in [system] (it
// would with a 1 s scan too, only less often); and energy is split by CPU
// share over the whole window, so a process busy only while the VM's power
// was high within a window gets the window's average power instead. Per
// command energy over minutes is unchanged.
package procsplit

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/virtwatt/virtwatt/internal/saturate"
)

// Defaults for Options.
const (
	DefaultProcRoot = "/proc"
	DefaultTopN     = 10
	DefaultMaxComms = 256
)

// Pseudo command names that carry energy no single process can be charged.
const (
	// SystemComm carries busy CPU time not seen in any process: interrupts,
	// softirqs, steal, kernel threads (not read: see Scanner), and processes
	// born and gone between two scans.
	SystemComm = "[system]"
	// OtherComm carries the energy of command names beyond Options.MaxComms.
	OtherComm = "other"
)

// ErrNoBaseline is returned by the first Tick: it only takes the baseline.
var ErrNoBaseline = errors.New("procsplit: first tick takes the CPU-time baseline; nothing split yet")

// Options configures a Splitter. Zero values take the defaults.
type Options struct {
	ProcRoot string // --proc-root; default /proc
	TopN     int    // --top-processes; 0 → 10, negative → no per-process power
	MaxComms int    // distinct command names kept; the rest fold into "other"; default 256
	// ScanInterval is the least time (by the times given to Tick) between
	// two scans of the processes; a Tick sooner than that only keeps its
	// energy for the next scan. 0: scan at every Tick.
	ScanInterval time.Duration
	Logger       *slog.Logger
	Now          func() time.Time // the clock KeepTopUntil is judged by; default time.Now
}

// ProcessPower is one process's share of the last tick.
type ProcessPower struct {
	PID      int
	Comm     string
	EnergyUJ uint64  // share of the tick's energy
	Watts    float64 // EnergyUJ over the tick's elapsed guest time
}

// TickResult is how one tick's energy was split. Σ Processes[].EnergyUJ +
// SystemUJ + IdleUJ = EnergyUJ.
type TickResult struct {
	EnergyUJ  uint64
	IdleUJ    uint64
	SystemUJ  uint64
	Processes []ProcessPower // every process with a non-zero share, largest first
}

type procKey struct {
	pid   int
	start uint64
}

// Splitter keeps the state of the split between ticks. It is safe for
// concurrent use: Tick from the agent loop, Collect from scrapes.
type Splitter struct {
	opts    Options
	log     *slog.Logger
	scanner *Scanner

	mu         sync.Mutex
	procs      []Proc
	prev, next map[procKey]uint64
	prevCPU    CPUTimes
	prevTime   time.Time
	haveBase   bool
	pendingUJ  uint64 // energy not split yet: of ticks before the scan interval passed, or in which no CPU time passed
	haveTotal  bool
	lastTotal  uint64
	commUJ     map[string]uint64
	idleUJ     uint64
	top        []ProcessPower
	topUntil   time.Time // top is not exported after this; zero: no limit
	skipped    uint64
	splits     uint64
	deferred   uint64 // ticks whose energy waited for the next scan

	weights, shares, rems []uint64
	order                 []int
}

// New returns a Splitter reading opts.ProcRoot.
func New(opts Options) *Splitter {
	if opts.ProcRoot == "" {
		opts.ProcRoot = DefaultProcRoot
	}
	if opts.TopN == 0 {
		opts.TopN = DefaultTopN
	}
	if opts.MaxComms <= 0 {
		opts.MaxComms = DefaultMaxComms
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Splitter{
		opts:    opts,
		log:     log,
		scanner: NewScanner(opts.ProcRoot),
		prev:    map[procKey]uint64{},
		next:    map[procKey]uint64{},
		commUJ:  map[string]uint64{},
	}
}

// Observe takes the VM's cumulative energy (µJ, every zone; it never goes
// backwards, like measure.Sample.TotalEnergyUJ) and splits the part since
// the previous call. The first call only takes the baselines. Energy of a
// failed call is split by the next successful one, so that over the
// Splitter's life Σ per-command energy + idle = VM energy since the first
// call.
func (s *Splitter) Observe(now time.Time, vmTotalUJ uint64) (TickResult, error) {
	s.mu.Lock()
	if !s.haveTotal || vmTotalUJ < s.lastTotal {
		// First call, or a counter that went back (never from a Sample):
		// a new baseline, nothing to split.
		s.haveTotal = true
		s.lastTotal = vmTotalUJ
	}
	delta := vmTotalUJ - s.lastTotal
	s.mu.Unlock()

	res, err := s.Tick(now, delta)
	if err != nil && !errors.Is(err, ErrNoBaseline) {
		return res, err
	}
	s.mu.Lock()
	s.lastTotal = vmTotalUJ
	s.mu.Unlock()
	return res, nil
}

// Tick scans the processes and splits deltaUJ, the VM's energy since the
// previous Tick. The first Tick takes the baseline and returns
// ErrNoBaseline; its deltaUJ is not counted. On any other error nothing is
// counted and the baseline is kept: pass the energy again with the next
// delta.
func (s *Splitter) Tick(now time.Time, deltaUJ uint64) (TickResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	if s.haveBase && s.opts.ScanInterval > 0 && !now.Before(s.prevTime) && now.Sub(s.prevTime) < s.opts.ScanInterval {
		// Not due: the next scan splits this energy with its own.
		s.pendingUJ, _ = saturate.Add(s.pendingUJ, deltaUJ)
		s.deferred++
		return TickResult{}, nil
	}
	cpu, err := ReadCPU(s.opts.ProcRoot)
	if err != nil {
		return TickResult{}, err
	}
	procs, skipped, err := s.scanner.Scan(s.procs[:0])
	s.procs = procs
	if err != nil {
		return TickResult{}, err
	}
	if skipped > 0 {
		s.skipped += uint64(skipped)
		s.log.Debug("procsplit: unreadable stat files skipped", "count", skipped, "proc_root", s.opts.ProcRoot)
	}
	if !s.haveBase || cpu.Busy < s.prevCPU.Busy || cpu.Idle < s.prevCPU.Idle {
		wasBase := s.haveBase
		s.rebase(procs, cpu, now)
		if wasBase {
			return TickResult{}, fmt.Errorf("procsplit: guest CPU time in %s/stat went backwards; new baseline taken", s.opts.ProcRoot)
		}
		return TickResult{}, ErrNoBaseline
	}

	e := deltaUJ + s.pendingUJ
	busy := cpu.Busy - s.prevCPU.Busy
	idle := cpu.Idle - s.prevCPU.Idle

	// Per-process deltas; weights = [p_1 … p_n, idle, system].
	s.weights = s.weights[:0]
	var sumP uint64
	for _, p := range procs {
		k := procKey{p.PID, p.StartTime}
		d := p.CPUTicks // a process not seen before was born since the last scan
		if old, ok := s.prev[k]; ok {
			if p.CPUTicks >= old {
				d = p.CPUTicks - old
			} else {
				d = 0
			}
		}
		s.next[k] = p.CPUTicks
		s.weights = append(s.weights, d)
		sumP += d
	}
	if busy < sumP {
		busy = sumP
	}
	if busy+idle == 0 {
		// No CPU time passed: keep the energy for the next tick.
		s.pendingUJ = e
		clear(s.next)
		return TickResult{}, nil
	}
	s.weights = append(s.weights, idle, busy-sumP)
	s.shares = splitExact(e, s.weights, s.shares, s.rems, s.order)

	res := TickResult{
		EnergyUJ: e,
		IdleUJ:   s.shares[len(procs)],
		SystemUJ: s.shares[len(procs)+1],
	}
	elapsed := now.Sub(s.prevTime).Seconds()
	for i, p := range procs {
		sh := s.shares[i]
		if sh == 0 {
			continue
		}
		s.commUJ[s.fold(p.Comm)] += sh
		pp := ProcessPower{PID: p.PID, Comm: p.Comm, EnergyUJ: sh}
		if elapsed > 0 {
			pp.Watts = float64(sh) / 1e6 / elapsed
		}
		res.Processes = append(res.Processes, pp)
	}
	s.idleUJ += res.IdleUJ
	s.splits++
	if res.SystemUJ > 0 {
		s.commUJ[SystemComm] += res.SystemUJ
	}
	sort.Slice(res.Processes, func(a, b int) bool {
		pa, pb := res.Processes[a], res.Processes[b]
		if pa.EnergyUJ != pb.EnergyUJ {
			return pa.EnergyUJ > pb.EnergyUJ
		}
		return pa.PID < pb.PID
	})
	s.top = s.top[:0]
	if s.opts.TopN > 0 && elapsed > 0 {
		n := min(s.opts.TopN, len(res.Processes))
		s.top = append(s.top, res.Processes[:n]...)
	}

	// Processes gone since the last scan are forgotten here.
	s.prev, s.next = s.next, s.prev
	clear(s.next)
	s.prevCPU = cpu
	s.prevTime = now
	s.pendingUJ = 0
	return res, nil
}

func (s *Splitter) rebase(procs []Proc, cpu CPUTimes, now time.Time) {
	clear(s.prev)
	for _, p := range procs {
		s.prev[procKey{p.PID, p.StartTime}] = p.CPUTicks
	}
	s.prevCPU = cpu
	s.prevTime = now
	s.haveBase = true
	s.top = s.top[:0]
}

// fold returns the key under which comm's energy is kept.
func (s *Splitter) fold(comm string) string {
	if _, ok := s.commUJ[comm]; ok {
		return comm
	}
	n := len(s.commUJ)
	if _, ok := s.commUJ[OtherComm]; ok {
		n--
	}
	if _, ok := s.commUJ[SystemComm]; ok {
		n--
	}
	if n >= s.opts.MaxComms {
		return OtherComm
	}
	return comm
}

// ClearTop forgets the last tick's top processes, so that no process power
// is exported until the next split: the VM's power is unknown (the share
// is down or stale).
func (s *Splitter) ClearTop() {
	s.mu.Lock()
	s.top = s.top[:0]
	s.topUntil = time.Time{}
	s.mu.Unlock()
}

// KeepTopUntil exports the last tick's top processes only until t (by
// Options.Now), so that a power split from a share that went stale since
// (with no tick to say so) is not exported frozen.
func (s *Splitter) KeepTopUntil(t time.Time) {
	s.mu.Lock()
	s.topUntil = t
	s.mu.Unlock()
}

// Snapshot is the Splitter's cumulative state.
type Snapshot struct {
	CommEnergyUJ map[string]uint64 // per command name, with SystemComm and OtherComm
	IdleUJ       uint64
	Top          []ProcessPower // the last tick's top processes by power; none once cleared or expired
	Skipped      uint64         // unparsable stat files skipped so far
	Splits       uint64         // ticks whose energy was split
	Deferred     uint64         // ticks that came before the scan interval passed; their energy is in PendingUJ or split since
	PendingUJ    uint64         // energy not split yet: of deferred ticks, or of ticks with no CPU time
}

// Snapshot returns a copy of the cumulative state.
func (s *Splitter) Snapshot() Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]uint64, len(s.commUJ))
	for k, v := range s.commUJ {
		m[k] = v
	}
	var top []ProcessPower
	if s.topUntil.IsZero() || !s.opts.Now().After(s.topUntil) {
		top = append(top, s.top...)
	}
	return Snapshot{
		CommEnergyUJ: m,
		IdleUJ:       s.idleUJ,
		Top:          top,
		Skipped:      s.skipped,
		Splits:       s.splits,
		Deferred:     s.deferred,
		PendingUJ:    s.pendingUJ,
	}
}
