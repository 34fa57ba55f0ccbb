package intensity

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/virtwatt/virtwatt/internal/condlog"
)

// Stage is the stage name of the intensity source's failures in logs and
// in virtwatt_errors_total.
const Stage = "intensity"

// remindEvery is how often a refusal that lasts is logged again (its
// start and its end are logged once each).
const remindEvery = time.Hour

// Fetcher reads one value from a live source. Fetch honours ctx and
// bounds its own time; the Value it returns has passed checkValue.
type Fetcher interface {
	Fetch(ctx context.Context) (Value, error)
	Describe() string // for logs: "carbon_intensity_file /run/ci.json"
}

// Poller is a live Source: it calls a Fetcher every Every and keeps the
// last good value. Current never blocks.
type Poller struct {
	f      Fetcher
	every  time.Duration
	now    func() time.Time
	log    *slog.Logger
	cond   *condlog.Logger
	onFail func(error)

	cur    atomic.Pointer[Value]
	good   atomic.Bool // the last poll succeeded
	ready  atomic.Bool // a poll has succeeded
	polled atomic.Int64
}

// PollerOptions configure a Poller. Zero values take the defaults.
type PollerOptions struct {
	Every    time.Duration    // time between two fetches (required)
	Fallback Value            // the value before the first good fetch (the configured constant)
	Now      func() time.Time // default time.Now
	Log      *slog.Logger     // default: discard
	OnFail   func(error)      // called for every refused fetch (to count it)
}

// NewPoller returns a Poller that has not fetched yet: Current is the
// fallback until Poll or Run succeeds.
func NewPoller(f Fetcher, o PollerOptions) *Poller {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.OnFail == nil {
		o.OnFail = func(error) {}
	}
	p := &Poller{f: f, every: o.Every, now: o.Now, log: o.Log, onFail: o.OnFail,
		cond: condlog.New(o.Log, condlog.Options{Every: remindEvery, Now: o.Now})}
	fb := o.Fallback
	p.cur.Store(&fb)
	return p
}

// Current returns the last good value (the fallback before the first).
func (p *Poller) Current() Value { return *p.cur.Load() }

// Poll fetches once. A refused fetch keeps the previous value; it is
// logged when the refusal starts or its cause changes, and when fetching
// recovers, not at every poll.
func (p *Poller) Poll(ctx context.Context) error {
	defer p.polled.Add(1)
	defer p.cond.Flush()
	v, err := p.f.Fetch(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return err // stopping: not the source's fault
		}
		p.good.Store(false)
		p.onFail(err)
		p.cond.Fail(Stage, "", err)
		return err
	}
	p.cond.OK(Stage)
	prev := p.Current()
	p.good.Store(true)
	if !p.ready.Swap(true) {
		p.log.Info("carbon intensity source ready", "intensity_source", v.Source, "zone", v.Zone,
			"g_per_kwh", v.GramsPerKWh, "time", v.Time, "from", p.f.Describe())
	} else if prev.GramsPerKWh != v.GramsPerKWh || prev.Zone != v.Zone {
		p.log.Debug("carbon intensity changed", "intensity_source", v.Source, "zone", v.Zone,
			"g_per_kwh", v.GramsPerKWh, "was", prev.GramsPerKWh, "time", v.Time)
	}
	p.cur.Store(&v)
	return nil
}

// Run polls every Every until ctx ends (the first poll after one period:
// call Poll before Run for one at start). It returns nil once ctx ended.
func (p *Poller) Run(ctx context.Context) error {
	t := time.NewTicker(p.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			_ = p.Poll(ctx)
		}
	}
}
