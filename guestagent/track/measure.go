package track

import (
	"context"
	"log/slog"
	"os"
	"syscall"
	"time"

	"github.com/virtwatt/virtwatt/guestagent/measure"
	"github.com/virtwatt/virtwatt/guestagent/procsplit"
)

// measurement gathers what the summary needs while the command runs.
type measurement struct {
	opts Options
	log  *slog.Logger

	t0, t1       time.Time
	s0, s1       measure.Sample
	s0Err, s1Err error
	cpu0, cpu1   procsplit.CPUTimes
	cpu0Err      error
	cpu1Err      error
	tree         *tree
	scanErrs     int
	meterErrs    int
}

func newMeasurement(opts Options, log *slog.Logger) *measurement {
	return &measurement{opts: opts, log: log}
}

// begin samples the VM's energy and the guest's CPU time before the start.
func (m *measurement) begin(ctx context.Context) {
	m.s0, m.s0Err = m.opts.Meter.Sample(ctx)
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

// tick keeps the meter current and follows the process tree.
func (m *measurement) tick(ctx context.Context) {
	if _, err := m.opts.Meter.Sample(ctx); err != nil {
		m.meterErrs++
		m.log.Debug("track: meter sample failed", "err", err)
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
	m.s1, m.s1Err = m.opts.Meter.Sample(ctx)

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
	return r
}
