// Package hostagent is virtwatt-host's loop: it reads the energy meter, the
// host's CPU time and every VM's vCPU time, splits the energy across VMs
// (package attribution) and books it (package ledger, the only writer of
// energy counters), builds each VM's share record (package publish) and
// writes them (package fanout, over package share's writers), keeps the
// cumulative counters in a state file (package state) and the tick's view
// (package view). Tick is the walk from the meter's reading to the share
// files, as plain function calls.
package hostagent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/virtwatt/virtwatt/hostagent/attribution"
	"github.com/virtwatt/virtwatt/hostagent/domain"
	"github.com/virtwatt/virtwatt/hostagent/fanout"
	"github.com/virtwatt/virtwatt/hostagent/intensity"
	"github.com/virtwatt/virtwatt/hostagent/ledger"
	"github.com/virtwatt/virtwatt/hostagent/meter"
	"github.com/virtwatt/virtwatt/hostagent/publish"
	"github.com/virtwatt/virtwatt/hostagent/state"
	"github.com/virtwatt/virtwatt/hostagent/view"
	"github.com/virtwatt/virtwatt/internal/condlog"
	"github.com/virtwatt/virtwatt/internal/procstat"
	"github.com/virtwatt/virtwatt/share"
)

// domainsTimeout bounds one bulk stats call: a wedged libvirtd (a hung
// qemu monitor) must not freeze the loop; its energy waits in pending.
const domainsTimeout = 5 * time.Second

// Sources are what the agent reads each tick; tests and --demo inject
// their own.
type Sources struct {
	Meter   meter.Meter
	CPU     func() (procstat.CPU, error)
	Domains domain.Source
	Now     func() time.Time
	// Intensity is the grid carbon intensity in force, read once per tick
	// (nil: the configured constant).
	Intensity intensity.Source
}

// Agent runs ticks. It is not safe for concurrent ticks; Snapshot may be
// called from any goroutine.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	src     Sources
	tracker *meter.Tracker
	writer  *share.Writer  // nil in dry-run (--once)
	shares  *fanout.Shares // writes through writer and those added by AddWriters
	st      *state.State
	ledger  *ledger.Ledger // the only writer of st's energy counters
	site    publish.Site   // what every share record carries
	obs     *Observer
	cond    *condlog.Logger // failures, logged once per condition, not per tick

	splitters map[string]*attribution.ZoneSplitter
	curves    curves // the host's power curve, learned or calibrated (curve.go)
	// meterReset says the last meter reading had a reset in it.
	meterReset bool

	lastMeter time.Time // time of the previous meter reading

	// Baselines of the last split: energy read since then waits in pending.
	split struct {
		ok   bool
		time time.Time
		cpu  procstat.CPU
		raw  map[string]rawTimes // by UUID
	}
	tickBuf tickBuffers
	snap    atomic.Pointer[view.Host]
	enc     state.Encoder // the state file's, reused each tick
	// writeState replaces the state file with an encoded state
	// (state.WriteFile; a benchmark of the tick's compute discards it).
	writeState func(path string, b []byte) error
}

type rawTimes struct{ vcpu, cpu uint64 }

// New builds an agent. st is the loaded state (state.New() for none);
// writer may be nil for a dry run that writes nothing.
func New(cfg Config, src Sources, writer *share.Writer, st *state.State, obs *Observer, log *slog.Logger) (*Agent, error) {
	if err := cfg.Policy().Validate(); err != nil {
		return nil, err
	}
	if src.Now == nil {
		src.Now = time.Now
	}
	if src.Intensity == nil {
		src.Intensity = intensity.NewStatic(cfg.CarbonIntensity, cfg.CarbonIntensitySource)
	}
	if obs == nil {
		obs = NewObserver()
	}
	a := &Agent{
		cfg: cfg, log: log, src: src, writer: writer, st: st, obs: obs,
		tracker:    meter.NewTracker(),
		writeState: state.WriteFile,
		splitters:  map[string]*attribution.ZoneSplitter{},
	}
	a.cond = newCondLog(log, cfg.Interval, src.Now)
	a.site = publish.Site{
		HostName: cfg.HostName, Interval: cfg.Interval, Zones: cfg.Zones,
		PUE: cfg.PUE, WUE: cfg.WUE, CarbonIntensity: cfg.CarbonIntensity, CarbonIntensitySource: cfg.CarbonIntensitySource,
		EmbodiedKgCO2e: cfg.EmbodiedTotalKgCO2e(), LifetimeYears: cfg.LifetimeYears,
	}
	for _, z := range cfg.Zones {
		a.splitters[z] = attribution.NewZoneSplitter(cfg.Policy())
	}
	if err := a.setProvenance(); err != nil { // provenance.go
		return nil, err
	}
	a.ledger = ledger.New(st, cfg.Zones)
	a.ledger.SetProvenance(a.site.Method, a.site.Model)
	a.initCurves()
	a.startEmbodied()
	a.split.raw = map[string]rawTimes{}
	a.restore(src.Now())
	var ws []fanout.Writer
	if writer != nil {
		ws = []fanout.Writer{writer}
	}
	a.shares = fanout.New(ws, slices.Contains(cfg.Zones, share.ZoneDRAM), log, src.Now)
	return a, nil
}

// AddWriters adds writers on the same share root, over which large ticks
// spread their share writes.
func (a *Agent) AddWriters(ws ...*share.Writer) {
	for _, w := range ws {
		a.shares.AddWriters(w)
	}
}

// Run ticks every cfg.Interval until ctx ends. Errors of one tick are
// logged and counted; they never stop the loop.
func (a *Agent) Run(ctx context.Context) error {
	t := time.NewTicker(a.cfg.Interval)
	defer t.Stop()
	a.Tick(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			a.Tick(ctx)
		}
	}
}

// SaveFinal saves the state at shutdown. When energy measured since the
// last split is still pending (libvirt was unreachable), the file already
// holds the last consistent state, and saving host counters that include
// the pending energy without it would break conservation: it is skipped.
func (a *Agent) SaveFinal() error {
	if a.writer == nil || a.cfg.StateFile == "" {
		return nil
	}
	if a.ledger.HasPending() {
		a.log.Info("energy measured while libvirt was unreachable is not saved; a restart within a minute measures it again")
		return nil
	}
	return a.st.Save(a.cfg.StateFile, a.src.Now())
}

// saveState saves the state, saved at now, with the agent's encoder.
func (a *Agent) saveState(now time.Time) error {
	a.st.SavedAt = now
	b, err := a.enc.Encode(a.st)
	if err != nil {
		return fmt.Errorf("state: encode: %w", err)
	}
	return a.writeState(a.cfg.StateFile, b)
}

// Snapshot returns the result of the last tick (nil before the first).
func (a *Agent) Snapshot() *view.Host { return a.snap.Load() }

// Tick takes one reading of every source, splits what can be split and
// writes shares and state. It reports whether a split happened.
func (a *Agent) Tick(ctx context.Context) bool {
	start := time.Now()
	defer func() { a.obs.tickDuration.Observe(time.Since(start).Seconds()) }()
	defer a.cond.Flush()
	now := a.src.Now()
	a.readIntensity()

	readings, err := a.src.Meter.Read()
	if err != nil {
		a.fail("meter", err)
		return false
	}
	a.cond.OK("meter")
	deltas := a.meterDeltas(readings, now)
	a.noteMeterReset(deltas)
	elapsed := time.Duration(0)
	if !a.lastMeter.IsZero() {
		elapsed = now.Sub(a.lastMeter)
	}
	a.lastMeter = now
	a.ledger.Measure(deltas)
	hostPower := hostPowerW(deltas, elapsed)

	cpu, err := a.src.CPU()
	if err != nil {
		a.fail("procstat", err)
		a.storeHostView(now, hostPower)
		return false
	}
	a.cond.OK("procstat")
	dctx, cancel := context.WithTimeout(ctx, max(a.cfg.Interval, domainsTimeout))
	doms, err := a.src.Domains.Domains(dctx)
	cancel()
	if err != nil {
		a.fail("domains", err)
		a.storeHostView(now, hostPower)
		return false
	}
	a.cond.OK("domains")
	a.splitTick(now, cpu, doms)
	a.planShares(now, doms)
	// The state goes to disk before the shares: killed in between, the
	// agent restarts from counters at or above what any guest has seen.
	if a.writer != nil && a.cfg.StateFile != "" {
		a.st.Baseline = a.baseline(now, readings)
		a.saveCurves()
		a.fail("state", a.saveState(now))
	}
	a.writeShares()
	a.shares.Seen(now, doms, a.st.Dirs)
	if looked, failed := a.shares.Prune(now, a.st.Dirs, a.cfg.PruneAfter); looked {
		a.obs.errors.WithLabelValues("prune").Add(float64(failed))
		a.forgetVanished(now)
	}
	a.storeView(now, hostPower, doms)
	return true
}

// fail counts a failure of a tick's stage and reports it to the condition
// log (a nil err reports the stage as having run fine).
func (a *Agent) fail(stage string, err error) { a.failFor(stage, "", err) }

// failFor is fail for one domain's part of a stage.
func (a *Agent) failFor(stage, domain string, err error) {
	if err != nil {
		a.obs.errors.WithLabelValues(stage).Inc()
	}
	a.cond.Fail(stage, domain, err)
}

func hostKey(kind string, socket int) string { return ledger.HostKey(kind, socket) }

func hostPowerW(ds []meter.Delta, elapsed time.Duration) map[string]float64 {
	if elapsed <= 0 {
		return nil
	}
	p := map[string]float64{}
	for _, d := range ds {
		p[d.Kind] += float64(d.DeltaUJ) / 1e6 / elapsed.Seconds()
	}
	return p
}

// vmState returns the persistent record of a VM, creating it (with a fresh
// instance id) the first time the UUID is seen.
func (a *Agent) vmState(d *domain.Domain) *state.VM {
	vm := a.st.VMs[d.UUID]
	if vm == nil {
		vm = &state.VM{Instance: newInstanceID(), Zones: map[string]share.ZoneEnergy{}}
		a.st.VMs[d.UUID] = vm
		a.log.Info("new domain", "domain", d.Name, "uuid", d.UUID, "state", d.State)
	}
	vm.Name = d.Name
	if d.Labels != nil {
		vm.Labels = d.Labels
	}
	return vm
}

func newInstanceID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
