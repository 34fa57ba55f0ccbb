package hostagent

import (
	"math/bits"
	"sort"

	"github.com/virtwatt/virtwatt/hostagent/attribution"
	"github.com/virtwatt/virtwatt/hostagent/meter"
	"github.com/virtwatt/virtwatt/hostagent/powercurve"
	"github.com/virtwatt/virtwatt/hostagent/view"
	"github.com/virtwatt/virtwatt/share"
)

// Idle models of the idle_model key.
const (
	IdleModelAuto  = "auto"  // the curve once learned (powercurve.Criterion) or calibrated, else time
	IdleModelTime  = "time"  // idle energy ∝ idle CPU time, always
	IdleModelCurve = "curve" // the curve as soon as one is usable, whatever its quality
)

// curves is the agent's knowledge of the host's power curve, per counted
// zone: a learner fed every split (only from a measuring meter), and the
// fixed curve of a calibrate run (state file) or of the config.
type curves struct {
	mode     string
	learn    bool // the meter measures: its power can teach a curve
	learners map[string]*powercurve.Learner
	fixed    map[string]fixedCurve
	used     string // share.IdleModel* of the last split
}

type fixedCurve struct {
	c      powercurve.Curve
	source string // "calibrated" (state file) or "config"
}

// initCurves sets up a.curves from the config and the loaded state.
func (a *Agent) initCurves() {
	c := &a.curves
	c.mode = a.cfg.IdleModel
	if c.mode == "" {
		c.mode = IdleModelAuto
	}
	// An estimating meter's power is a function of busy CPUs by
	// construction: fitting it would only learn the model back.
	c.learn = a.src.Meter != nil && meter.ProvenanceOf(a.src.Meter).Method == share.MethodMeasured
	// Nor may a measured curve split estimated energy: the model's energy
	// is not on the measured curve's scale (a measured idle of 120 W
	// against a model's 30 W made nearly all of a busy host's estimate
	// static, shared by vCPUs: idle tenants paid for busy ones). The
	// curves stay in the state for when the host measures again.
	if a.src.Meter != nil && !c.learn && c.mode != IdleModelTime {
		if a.st.PowerCurve != nil || len(a.cfg.PowerCurve) > 0 {
			a.log.Info("power curve not used: the meter estimates, and a measured curve does not split estimated energy; idle by CPU time",
				"meter", a.src.Meter.Name(), "idle_model", c.mode)
		}
		c.mode = IdleModelTime
	}
	c.learners = make(map[string]*powercurve.Learner, len(a.cfg.Zones))
	c.fixed = map[string]fixedCurve{}
	c.used = share.IdleModelTime
	a.dropForeignCurve()
	var saved map[string]*powercurve.SavedZone
	if a.st.PowerCurve != nil {
		saved = a.st.PowerCurve.Zones
	}
	for _, z := range a.cfg.Zones {
		l := powercurve.NewLearner(powercurve.DefaultCriterion())
		if sz := saved[z]; sz != nil {
			l.RestoreWindow(sz)
			if sz.Calibrated != nil {
				c.fixed[z] = fixedCurve{c: sz.Calibrated.Curve(), source: "calibrated"}
			}
		}
		c.learners[z] = l
		if cc, ok := a.cfg.PowerCurve[z]; ok {
			c.fixed[z] = fixedCurve{c: cc.curve(), source: "config"}
		}
	}
}

// curveSplit decides the idle model of a split of elapsed (ns), after
// feeding each zone's point (its pending energy over elapsed against busy
// over elapsed) to its learner. It returns the attribution model and, for
// ModelCurve, each zone's static energy (idle µW × elapsed, floored).
//
// The curve is used for every zone or for none, so that a record's
// idle_model says how all of its energy was split: calibrated when every
// zone has a fixed curve; else fitted when every zone has an accepted fit
// (mode auto) or a usable one (mode curve); else time.
func (a *Agent) curveSplit(elapsedNS, busyNS uint64, cpus int, static map[string]uint64) attribution.Model {
	c := &a.curves
	if c.learn && elapsedNS > 0 && !a.meterReset {
		secs := float64(elapsedNS) / 1e9
		p := powercurve.Point{BusyCPUs: float64(busyNS) / float64(elapsedNS)}
		for _, z := range a.cfg.Zones {
			p.PowerW = float64(a.ledger.Pending(z)) / 1e6 / secs
			c.learners[z].Observe(p, cpus)
		}
	}
	c.used = share.IdleModelTime
	if c.mode == IdleModelTime {
		return attribution.ModelTime
	}
	var k curveKind
	switch {
	case c.all(kindFixed):
		k, c.used = kindFixed, share.IdleModelCalibrated
	case c.all(kindAccepted):
		k, c.used = kindAccepted, share.IdleModelFitted
	case c.mode == IdleModelCurve && c.all(kindUsable):
		k, c.used = kindUsable, share.IdleModelFitted
	default:
		return attribution.ModelTime
	}
	for _, z := range a.cfg.Zones {
		cv, _ := c.get(z, k)
		static[z] = staticUJ(cv.IdleUW(), elapsedNS)
	}
	return attribution.ModelCurve
}

// dropForeignCurve forgets a power curve the state brought from another
// machine (its baseline's machine id, else host name, differs from this
// one's). A curve describes the hardware it was measured on — its idle
// power and marginal watts per CPU — so it is kept across restarts and
// reboots of the same machine, but another server's curve would split
// this one's energy by foreign figures (and a calibrated one would be
// used at once, labelled calibrated): it is dropped, learned and
// calibrated alike, and this machine learns its own.
func (a *Agent) dropForeignCurve() {
	if a.st.PowerCurve == nil || !a.stateFromAnotherMachine() {
		return
	}
	b, cur := a.st.Baseline, readIdentity(a.cfg.ProcRoot, a.cfg.HostName)
	a.log.Info("power curve dropped: the state file was saved on another machine, whose curve says nothing of this one's power",
		"saved_host", b.HostName, "saved_machine_id", b.MachineID, "host", cur.hostName, "machine_id", cur.machineID)
	a.st.PowerCurve = nil
}

type curveKind int

const (
	kindFixed    curveKind = iota // calibrated or configured
	kindAccepted                  // the last fit that met the criterion
	kindUsable                    // the latest fit, if powercurve.Usable
)

func (c *curves) get(z string, k curveKind) (powercurve.Curve, bool) {
	switch k {
	case kindFixed:
		f, ok := c.fixed[z]
		return f.c, ok
	case kindAccepted:
		return c.learners[z].Accepted()
	}
	cv, ok := c.learners[z].Latest()
	return cv, ok && powercurve.Usable(cv)
}

// all reports whether every counted zone has a curve of kind k.
func (c *curves) all(k curveKind) bool {
	if len(c.learners) == 0 {
		return false
	}
	for z := range c.learners {
		if _, ok := c.get(z, k); !ok {
			return false
		}
	}
	return true
}

// staticUJ is idleUW × elapsedNS / 1e9, floored, saturating at 2^63.
func staticUJ(idleUW, elapsedNS uint64) uint64 {
	hi, lo := bits.Mul64(idleUW, elapsedNS)
	if hi >= 1e9 {
		return 1 << 63
	}
	q, _ := bits.Div64(hi, lo, 1e9)
	return min(q, 1<<63)
}

// saveCurves copies the learning windows into the state, for the next save.
func (a *Agent) saveCurves() {
	if !a.curves.learn {
		return
	}
	if a.st.PowerCurve == nil {
		a.st.PowerCurve = &powercurve.Saved{}
	}
	if a.st.PowerCurve.Zones == nil {
		a.st.PowerCurve.Zones = map[string]*powercurve.SavedZone{}
	}
	for z, l := range a.curves.learners {
		sz := a.st.PowerCurve.Zones[z]
		if sz == nil {
			sz = &powercurve.SavedZone{}
			a.st.PowerCurve.Zones[z] = sz
		}
		if l.Window().Len() > 0 {
			l.SaveWindow(sz)
		}
	}
}

// curveView is what the metrics show of the curves: per zone, the fixed
// curve when there is one, and the latest fit.
func (a *Agent) curveView() (string, []view.Curve) {
	c := &a.curves
	var out []view.Curve
	for _, z := range a.cfg.Zones {
		if f, ok := c.fixed[z]; ok {
			out = append(out, view.Curve{Zone: z, Source: f.source, Curve: f.c})
		}
		if l := c.learners[z]; l != nil {
			if cv, ok := l.Latest(); ok {
				_, acc := l.Accepted()
				out = append(out, view.Curve{Zone: z, Source: "fitted", Curve: cv, Accepted: acc})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Zone < out[j].Zone })
	return c.used, out
}

// noteMeterReset marks a tick whose meter deltas include a reset: its
// energy is incomplete, so it teaches the curves nothing.
func (a *Agent) noteMeterReset(ds []meter.Delta) {
	a.meterReset = false
	for _, d := range ds {
		if d.Reset {
			a.meterReset = true
		}
	}
}
