package track

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/virtwatt/virtwatt/guestagent/measure"
	"github.com/virtwatt/virtwatt/guestagent/procsplit"
)

// minSampleWait bounds how long a meter read may take at the start and at
// the end of the run (at least; 3 sampling intervals when longer; see
// Options.SampleTimeout) before
// the energy is given up as unknown: a read of a share whose server died
// (virtiofsd, 9p) can hang for ever, and must neither delay the command nor
// keep track from returning its exit code.
const minSampleWait = 3 * time.Second

// errSampleTimeout says a meter read did not return in time.
var errSampleTimeout = errors.New("the share read did not return in time (is virtiofsd or the 9p server alive?)")

// measurement gathers what the summary needs while the command runs.
type measurement struct {
	opts Options
	log  *slog.Logger

	// meterBusy holds a token while a meter read runs: reads never
	// overlap (a Sampler is not safe for concurrent use), and one that hangs
	// is never waited for on the command's path.
	meterBusy chan struct{}
	meterErrs atomic.Int64

	t0, t1       time.Time
	s0, s1       measure.Sample
	s0Err, s1Err error
	cpu0, cpu1   procsplit.CPUTimes
	cpu0Err      error
	cpu1Err      error
	tree         *tree
	scanErrs     int
}

func newMeasurement(opts Options, log *slog.Logger) *measurement {
	return &measurement{opts: opts, log: log, meterBusy: make(chan struct{}, 1)}
}

// sample reads the meter, giving up after the wait bound (the read itself
// goes on in its goroutine, and no other read starts until it returns).
func (m *measurement) sample(ctx context.Context) (measure.Sample, error) {
	wait := m.opts.SampleTimeout
	if wait <= 0 {
		wait = max(minSampleWait, 3*m.opts.Interval)
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case m.meterBusy <- struct{}{}:
	case <-timer.C:
		return measure.Sample{}, errSampleTimeout
	}
	type result struct {
		s   measure.Sample
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := m.opts.Sampler.Sample(ctx)
		<-m.meterBusy
		done <- result{s, err}
	}()
	select {
	case r := <-done:
		return r.s, r.err
	case <-timer.C:
		return measure.Sample{}, errSampleTimeout
	}
}

// begin samples the VM's energy and the guest's CPU time before the start.
func (m *measurement) begin(ctx context.Context) {
	m.s0, m.s0Err = m.sample(ctx)
	if m.s0Err != nil {
		m.log.Warn("track: VM energy unavailable at the start", "err", m.s0Err)
	}
	m.cpu0, m.cpu0Err = procsplit.ReadCPU(m.opts.ProcRoot)
	m.t0 = time.Now()
}

func (m *measurement) started(pid int) {
	m.tree = newTree(m.opts.ProcRoot, pid)
	m.scanTree()
}

// tick keeps the meter current, off the command's path (a read still
// running from the last tick is not waited for), and follows the process
// tree.
func (m *measurement) tick(ctx context.Context) {
	select {
	case m.meterBusy <- struct{}{}:
		go func() {
			defer func() { <-m.meterBusy }()
			if _, err := m.opts.Sampler.Sample(ctx); err != nil {
				m.meterErrs.Add(1)
				m.log.Debug("track: meter sample failed", "err", err)
			}
		}()
	default:
		m.log.Debug("track: the previous meter sample is still running")
	}
	m.scanTree()
}

func (m *measurement) scanTree() {
	if err := m.tree.scan(); err != nil {
		m.scanErrs++
		m.log.Debug("track: process scan failed", "err", err)
	}
}

// end samples again and computes the result.
func (m *measurement) end(ctx context.Context, argv []string, code int, ps *os.ProcessState) Result {
	m.t1 = time.Now()
	m.cpu1, m.cpu1Err = procsplit.ReadCPU(m.opts.ProcRoot)
	m.s1, m.s1Err = m.sample(ctx)

	r := Result{
		Argv:     argv,
		ExitCode: code,
		Start:    m.t0,
		End:      m.t1,
		Duration: m.t1.Sub(m.t0),
	}
	// The tree's CPU time: the child's rusage covers it and every
	// descendant it waited for; /proc covers the ones it did not (a
	// daemonized grandchild), as last seen. Both are lower bounds of the
	// same time, so the larger is taken, never their sum.
	if ps != nil {
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok && ru != nil {
			r.CommandCPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
		}
	}
	if m.tree != nil {
		r.CommandCPU = max(r.CommandCPU, m.tree.cpuSeconds())
	}
	if m.cpu0Err == nil && m.cpu1Err == nil && m.cpu1.Total() >= m.cpu0.Total() {
		r.GuestCPU = float64(m.cpu1.Total()-m.cpu0.Total()) / userHZ
	}
	r.Energy = energyOf(m.s0, m.s1, m.s0Err, m.s1Err)
	r.attribute()
	r.Footprint = footprint(m.s0, m.s1, r)
	return r
}
