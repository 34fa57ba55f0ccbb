package guestagent

import "time"

// A share whose state changes on every poll (a host that renames its
// record in and out, a mount that comes and goes) must not log a line per
// poll: past flapChanges changes of state within flapWindow, changes go
// to debug level, said once, until the state has held for flapWindow.
const (
	flapWindow  = time.Minute
	flapChanges = 4
)

// flapDamper decides whether a change of the share's state is logged at
// its own level. It is not safe for concurrent use (the poll loop owns it).
type flapDamper struct {
	changes []time.Time // within flapWindow of the last change
	damped  bool
}

// change records a change of state at now and reports whether it is to
// be logged at debug level (damped), and whether damping starts with it.
func (d *flapDamper) change(now time.Time) (damped, started bool) {
	keep := d.changes[:0]
	for _, t := range d.changes {
		if now.Sub(t) < flapWindow {
			keep = append(keep, t)
		}
	}
	d.changes = append(keep, now)
	if !d.damped && len(d.changes) > flapChanges {
		d.damped, started = true, true
	}
	return d.damped, started
}

// steady reports, once, that a damped state has held for flapWindow at
// now: changes are logged at their own level again.
func (d *flapDamper) steady(now time.Time) bool {
	if !d.damped || len(d.changes) == 0 || now.Sub(d.changes[len(d.changes)-1]) < flapWindow {
		return false
	}
	d.damped, d.changes = false, d.changes[:0]
	return true
}
