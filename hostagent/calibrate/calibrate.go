// Package calibrate measures a host's power curve deliberately: the host
// idle for a while, then 1, 2, … k threads spinning, each phase a while,
// the meter and /proc/stat read once per sample. Each sample is a point
// (busy CPUs, power) per counted zone, and each zone's points are fitted
// with powercurve.Fit.
//
// Everything it reads and waits on is injected (meter, CPU reader, load
// driver, sleep, clock), so a test can run it on fake trees in no real
// time; the defaults spin real threads and sleep. The busy CPUs of a point
// are what /proc/stat measured, not the thread count: whatever else runs on
// the host is in the points too. Run writes nothing: WriteState and
// WriteConfig do, after it.
package calibrate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/virtwatt/virtwatt/hostagent/meter"
	"github.com/virtwatt/virtwatt/hostagent/powercurve"
	"github.com/virtwatt/virtwatt/internal/procstat"
)

// Load runs busy threads: Set(n) makes exactly n run until the next Set;
// Set(0) stops them all.
type Load interface {
	Set(n int)
}

// Options are Run's sources and schedule. Zero durations and Threads take
// the defaults.
type Options struct {
	Meter meter.Meter
	CPU   func() (procstat.CPU, error)
	Zones []string // counted zones (meter.Counted); those the meter lacks are dropped

	Idle    time.Duration // the idle phase (default 30 s)
	Step    time.Duration // each busy phase (default 20 s)
	Settle  time.Duration // discarded at the start of each phase (default 2 s)
	Sample  time.Duration // one point per sample (default 1 s)
	Threads int           // k, the busiest phase (default min(online CPUs, 8))

	Load     Load                                             // default: NewSpinner()
	Sleep    func(ctx context.Context, d time.Duration) error // default: a timer
	Now      func() time.Time                                 // default: time.Now
	Progress func(phase, threads int, of int)                 // called as each phase starts (may be nil)
}

// Defaults.
const (
	DefaultIdle    = 30 * time.Second
	DefaultStep    = 20 * time.Second
	DefaultSettle  = 2 * time.Second
	DefaultSample  = time.Second
	DefaultThreads = 8
)

// Point is one sample.
type Point struct {
	Threads  int                // busy threads of its phase
	BusyCPUs float64            // measured, from /proc/stat
	PowerW   map[string]float64 // by zone
}

// ZoneCurve is one zone's fitted curve.
type ZoneCurve struct {
	Zone  string
	Curve powercurve.Curve
}

// Result is a calibration: the points and each zone's curve.
type Result struct {
	Time    time.Time // when it ended
	CPUs    int
	Threads int
	Points  []Point
	Curves  []ZoneCurve // in Options.Zones order
}

// Run calibrates. It returns an error when a source fails, ctx ends, or a
// zone's points cannot be fitted to a curve with a positive idle power and
// a non-negative marginal power (the host was too busy with other work, or
// the phases were too short).
func Run(ctx context.Context, o Options) (Result, error) {
	o.defaults()
	if o.Meter == nil || o.CPU == nil {
		return Result{}, errors.New("calibrate: no meter or no CPU reader")
	}
	cpu, err := o.CPU()
	if err != nil {
		return Result{}, fmt.Errorf("calibrate: %w", err)
	}
	k := o.Threads
	if k <= 0 {
		k = min(max(cpu.CPUs, 1), DefaultThreads)
	}
	rs, err := o.Meter.Read()
	if err != nil {
		return Result{}, fmt.Errorf("calibrate: meter: %w", err)
	}
	zones := presentZones(o.Zones, rs)
	if len(zones) == 0 {
		return Result{}, fmt.Errorf("calibrate: the meter has none of the zones %v", o.Zones)
	}
	res := Result{CPUs: cpu.CPUs, Threads: k}
	defer o.Load.Set(0)
	tr := meter.NewTracker()
	for phase := 0; phase <= k; phase++ {
		if o.Progress != nil {
			o.Progress(phase, phase, k)
		}
		o.Load.Set(phase)
		length := o.Step
		if phase == 0 {
			length = o.Idle
		}
		if err := o.Sleep(ctx, o.Settle); err != nil {
			return res, err
		}
		prev, err := o.read(tr, 0)
		if err != nil {
			return res, err
		}
		for elapsed := time.Duration(0); elapsed+o.Sample <= length; elapsed += o.Sample {
			if err := o.Sleep(ctx, o.Sample); err != nil {
				return res, err
			}
			cur, err := o.read(tr, o.Now().Sub(prev.at))
			if err != nil {
				return res, err
			}
			if p, ok := point(prev, cur, zones, phase); ok {
				res.Points = append(res.Points, p)
			}
			prev = cur
		}
	}
	o.Load.Set(0)
	res.Time = o.Now()
	for _, z := range zones {
		ps := make([]powercurve.Point, 0, len(res.Points))
		for _, p := range res.Points {
			ps = append(ps, powercurve.Point{BusyCPUs: p.BusyCPUs, PowerW: p.PowerW[z]})
		}
		c, ok := powercurve.Fit(ps)
		if !ok || !(c.IdleW > 0) || c.MarginalW < 0 {
			return res, fmt.Errorf("calibrate: zone %s: the %d points give no usable curve (idle %.2f W, marginal %.2f W/CPU): "+
				"was the host busy with other work? run again on a quieter host, or with a longer --step", z, len(ps), c.IdleW, c.MarginalW)
		}
		res.Curves = append(res.Curves, ZoneCurve{Zone: z, Curve: c})
	}
	return res, nil
}

type reading struct {
	at     time.Time
	busyNS uint64
	energy map[string]uint64 // counted zone → µJ since the previous reading
	reset  bool
}

func (o *Options) read(tr *meter.Tracker, elapsed time.Duration) (reading, error) {
	rs, err := o.Meter.Read()
	if err != nil {
		return reading{}, fmt.Errorf("calibrate: meter: %w", err)
	}
	cpu, err := o.CPU()
	if err != nil {
		return reading{}, fmt.Errorf("calibrate: %w", err)
	}
	ds := tr.Update(rs, elapsed)
	r := reading{at: o.Now(), busyNS: cpu.BusyNS, energy: meter.Counted(ds, o.Zones)}
	for _, d := range ds {
		r.reset = r.reset || d.Reset
	}
	return r, nil
}

// point is the sample between two readings; false across a meter reset or
// a clock that did not advance.
func point(prev, cur reading, zones []string, threads int) (Point, bool) {
	dt := cur.at.Sub(prev.at)
	if dt <= 0 || cur.reset || cur.busyNS < prev.busyNS {
		return Point{}, false
	}
	p := Point{Threads: threads, BusyCPUs: float64(cur.busyNS-prev.busyNS) / float64(dt.Nanoseconds()), PowerW: map[string]float64{}}
	for _, z := range zones {
		p.PowerW[z] = float64(cur.energy[z]) / 1e6 / dt.Seconds()
	}
	return p, true
}

// presentZones is the zones of want that some reading has.
func presentZones(want []string, rs []meter.Reading) []string {
	var out []string
	for _, z := range want {
		if slices.ContainsFunc(rs, func(r meter.Reading) bool { return r.Kind == z }) {
			out = append(out, z)
		}
	}
	return out
}

func (o *Options) defaults() {
	if o.Idle <= 0 {
		o.Idle = DefaultIdle
	}
	if o.Step <= 0 {
		o.Step = DefaultStep
	}
	if o.Settle < 0 {
		o.Settle = 0
	} else if o.Settle == 0 {
		o.Settle = DefaultSettle
	}
	if o.Sample <= 0 {
		o.Sample = DefaultSample
	}
	if len(o.Zones) == 0 {
		o.Zones = meter.DefaultZones()
	}
	if o.Load == nil {
		o.Load = NewSpinner()
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
