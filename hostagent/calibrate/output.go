package calibrate

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/virtwatt/virtwatt/hostagent/powercurve"
	"github.com/virtwatt/virtwatt/hostagent/state"
	"github.com/virtwatt/virtwatt/internal/flock"
)

// WriteText prints the curves (idle W, marginal W/CPU, fit quality) and
// every point.
func (r Result) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Power curve of this host (%d CPUs, %d points, 0..%d busy threads):\n", r.CPUs, len(r.Points), r.Threads)
	crit := powercurve.DefaultCriterion()
	for _, zc := range r.Curves {
		c := zc.Curve
		fmt.Fprintf(&b, "  %-8s idle %8.2f W (±%.2f)   marginal %7.3f W/CPU   R² %.4f   residual %.2f W   busy spread %.2f CPUs",
			zc.Zone, c.IdleW, 2*c.IdleSEW, c.MarginalW, c.R2, c.ResidualW, c.SpreadCPUs)
		if !crit.Accepts(c, r.CPUs) {
			b.WriteString("   (below the learning criterion: the agent would not learn this from its history)")
		}
		b.WriteByte('\n')
	}
	b.WriteString("\nPoints (threads, busy CPUs measured, power per zone):\n")
	zones := make([]string, 0, len(r.Curves))
	for _, zc := range r.Curves {
		zones = append(zones, zc.Zone)
	}
	for _, p := range r.Points {
		fmt.Fprintf(&b, "  %3d %7.3f", p.Threads, p.BusyCPUs)
		for _, z := range zones {
			fmt.Fprintf(&b, "  %s %8.3f W", z, p.PowerW[z])
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteConfig prints the config lines that make the agent use these curves
// (virtwatt-host's [power_curve.<zone>] tables).
func (r Result) WriteConfig(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# virtwatt-host calibrate, %s: %d points on %d CPUs\n", r.Time.UTC().Format("2006-01-02T15:04:05Z"), len(r.Points), r.CPUs)
	for _, zc := range r.Curves {
		fmt.Fprintf(&b, "[power_curve.%s]\nidle_watts = %.3f\nmarginal_watts_per_cpu = %.4f\n", zc.Zone, zc.Curve.IdleW, zc.Curve.MarginalW)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// ErrStateInUse is wrapped by Lock's error when the agent holds the state.
var ErrStateInUse = errors.New("the state file is in use")

// Lock takes the state file's lock (the agent's: path + ".lock"), so that
// no agent starts while calibrate runs; a held lock is refused, naming the
// holder's PID.
func Lock(path string) (*flock.Lock, error) {
	l, err := flock.Acquire(path + ".lock")
	var held *flock.HeldError
	if errors.As(err, &held) {
		return nil, fmt.Errorf("%w: state file %s is held by %s (lock %s): stop it (systemctl stop virtwatt-host), calibrate, then start it again; "+
			"or run with --print-config and put the lines printed in its config", ErrStateInUse, path, held.Holder("a running virtwatt-host"), held.Path)
	}
	if err != nil {
		return nil, fmt.Errorf("state file %s: %w", path, err)
	}
	return l, nil
}

// WriteState stores r's curves as the calibrated curves of the state file
// at path (loaded, checked and replaced atomically; every counter kept as
// it is). The caller holds Lock(path).
func (r Result) WriteState(path string) error {
	st, err := state.Load(path)
	if err != nil {
		return err
	}
	if st.PowerCurve == nil {
		st.PowerCurve = &powercurve.Saved{}
	}
	if st.PowerCurve.Zones == nil {
		st.PowerCurve.Zones = map[string]*powercurve.SavedZone{}
	}
	for _, zc := range r.Curves {
		z := st.PowerCurve.Zones[zc.Zone]
		if z == nil {
			z = &powercurve.SavedZone{}
			st.PowerCurve.Zones[zc.Zone] = z
		}
		z.Calibrated = powercurve.SaveCurve(zc.Curve, r.Time)
	}
	if err := st.Validate(); err != nil {
		return fmt.Errorf("state file %s: %w", path, err)
	}
	saved := st.SavedAt
	if r.Time.After(saved) {
		saved = r.Time
	}
	return st.Save(path, saved)
}
