// Package status is `virtwatt-guest status`: one screen that says whether
// the VM's share is found, mounted read-only and fresh, what the VM's power
// is now, where the carbon intensity comes from, and what to fix when
// something is wrong.
//
// It reads the share through the agent's own reader and accountant (a
// measure.Sampler), twice, one share interval apart, so that freshness and power are
// judged exactly as the running agent judges them; it never mounts or
// writes anything.
package status

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/virtwatt/virtwatt/estimate"
	"github.com/virtwatt/virtwatt/guestagent/account"
	"github.com/virtwatt/virtwatt/guestagent/discover"
	"github.com/virtwatt/virtwatt/guestagent/measure"
)

// MaxWait bounds the wait between the two reads of the share.
const MaxWait = 10 * time.Second

// Options say what to check.
type Options struct {
	ShareDir string
	SysRoot  string // default "/sys"
	ProcRoot string // default "/proc"
	Sampler  measure.Sampler
	// Sleep waits d or until ctx ends; time-based by default.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Check is one line of the report.
type Check struct {
	Name   string
	OK     bool
	Detail string
	Fix    string // what to do when !OK (or a hint when OK)
}

// Report is the outcome of Run.
type Report struct {
	Checks []Check
	Sample measure.Sample // the last read
}

// Healthy reports whether every check passed.
func (r Report) Healthy() bool {
	for _, c := range r.Checks {
		if !c.OK {
			return false
		}
	}
	return len(r.Checks) > 0
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Run checks the share once: where it is, how it is mounted, and two
// reads of it one interval apart.
func Run(ctx context.Context, o Options) Report {
	if o.SysRoot == "" {
		o.SysRoot = "/sys"
	}
	if o.ProcRoot == "" {
		o.ProcRoot = "/proc"
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	var r Report
	found, mounted := r.checkPlace(o)

	s, err := o.Sampler.Sample(ctx)
	if err == nil {
		// One share interval (the staleness limit is 3 of them), a little
		// more, so that a live host writes at least once in between.
		wait := min(s.StaleAfter/account.StaleIntervals+s.StaleAfter/10, MaxWait)
		if err = o.Sleep(ctx, wait); err == nil {
			s, err = o.Sampler.Sample(ctx)
		}
	}
	r.Sample = s
	r.checkData(o, s, err, found, mounted)
	return r
}

// checkPlace adds the "share" and "mount" checks.
func (r *Report) checkPlace(o Options) (found, mounted bool) {
	shares, ferr := discover.Find(o.SysRoot, discover.Tag)
	m, isMount, merr := discover.MountAt(o.ProcRoot, o.ShareDir)
	share := Check{Name: "share"}
	switch {
	case ferr != nil:
		share.Detail, share.Fix = ferr.Error(), "check that "+o.SysRoot+" is sysfs"
	case len(shares) > 0:
		names := make([]string, len(shares))
		for i, s := range shares {
			names[i] = s.Type
			if s.Candidate {
				names[i] += " (a virtiofs device; this kernel does not show its tag)"
			}
		}
		share.OK, share.Detail = true, fmt.Sprintf("virtio file system tagged %q: %s", discover.Tag, strings.Join(names, ", "))
	case isMount:
		share.OK, share.Detail = true, fmt.Sprintf("%s is mounted from %s (%s)", o.ShareDir, m.Source, m.FSType)
	default:
		share.Detail = fmt.Sprintf("no virtio file system tagged %q in this VM", discover.Tag)
		share.Fix = "on the hypervisor: virtwatt-host attach DOMAIN (virtiofs: --live, or restart the VM; 9p: restart the VM)"
	}
	r.Checks = append(r.Checks, share)

	mnt := Check{Name: "mount"}
	switch {
	case merr != nil:
		mnt.Detail, mnt.Fix = merr.Error(), "check that "+o.ProcRoot+" is procfs"
	case isMount && m.ReadOnly:
		mnt.OK, mnt.Detail = true, fmt.Sprintf("%s: %s %s, read-only", o.ShareDir, m.FSType, m.Source)
	case isMount:
		mnt.Detail = fmt.Sprintf("%s: %s %s is mounted read-write", o.ShareDir, m.FSType, m.Source)
		mnt.Fix = "mount -o remount,ro " + o.ShareDir + " (and add ro to its fstab line or mount unit)"
	case len(shares) > 0:
		mnt.Detail = o.ShareDir + " is not a mount point"
		mnt.Fix = "start virtwatt-guest as root (it mounts the share itself), or run: " + shares[0].Command(o.ShareDir) +
			" (for every boot: systemctl enable --now mnt-virtwatt.mount, or the line of configs/guest/fstab)"
	default:
		mnt.Detail = o.ShareDir + " is not a mount point"
		mnt.Fix = "attach the share first (see above)"
	}
	r.Checks = append(r.Checks, mnt)
	return ferr == nil && (len(shares) > 0 || isMount), isMount && merr == nil
}

// checkData adds the "fresh", "power" and "carbon" checks from the last read.
func (r *Report) checkData(o Options, s measure.Sample, err error, found, mounted bool) {
	fresh := Check{Name: "fresh"}
	switch {
	case err != nil:
		fresh.Detail = err.Error()
		fresh.Fix = "mount the share at " + o.ShareDir + " (see above), or point --share-dir at it"
		if found && mounted {
			fresh.Fix = "the host agent has not written this VM's share: on the hypervisor, systemctl status virtwatt-host; virtwatt-host doctor"
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			fresh.Fix = "interrupted"
		}
	case s.Up:
		fresh.OK = true
		fresh.Detail = fmt.Sprintf("%s mode, host %s, domain %s, last update %s ago", s.Mode, orDash(s.Host), orDash(s.Domain),
			max(0, s.Time.Sub(s.LastUpdate)).Round(100*time.Millisecond))
	default:
		fresh.Detail = fmt.Sprintf("not updated since %s (limit %s)", s.LastUpdate.Format(time.RFC3339), s.StaleAfter)
		fresh.Fix = "virtwatt-host is not updating this share: on the hypervisor, systemctl status virtwatt-host; virtwatt-host doctor"
	}
	r.Checks = append(r.Checks, fresh)

	power := Check{Name: "power"}
	if w, ok := s.TotalPowerW(); ok && fresh.OK {
		zones := make([]string, 0, len(s.PowerW))
		for z, p := range s.PowerW {
			zones = append(zones, fmt.Sprintf("%s %.2f W", z, p))
		}
		sort.Strings(zones)
		power.OK = true
		power.Detail = fmt.Sprintf("%.2f W (%s); %.4g kWh and %.4g gCO2e so far", w, strings.Join(zones, ", "),
			estimate.KWh(s.TotalEnergyUJ()), s.EmissionsGrams)
	} else {
		power.Detail = "unknown"
		power.Fix = "needs a fresh share (see above)"
		if fresh.OK {
			power.Detail = "unknown: the share did not change between two reads " + s.StaleAfter.String() + " apart"
			power.Fix = "run again; if it persists, check the host agent's interval"
		}
	}
	r.Checks = append(r.Checks, power)

	carbon := Check{Name: "carbon", OK: true}
	carbon.Detail = fmt.Sprintf("%.1f gCO2e/kWh from %s; PUE %.2f", s.IntensityGPerKWh, orDash(s.IntensitySource), s.PUE)
	if s.IntensitySource == estimate.SourceWorldAverage {
		carbon.Fix = "the world average: set country (--country, e.g. FR) or carbon_intensity in the config, or on the host"
	}
	r.Checks = append(r.Checks, carbon)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Write prints the report, one line per check and its fix.
func (r Report) Write(w io.Writer) error {
	var b strings.Builder
	for _, c := range r.Checks {
		mark := "ok  "
		if !c.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(&b, "%s %-7s %s\n", mark, c.Name, c.Detail)
		if c.Fix != "" {
			prefix := "fix:"
			if c.OK {
				prefix = "hint:"
			}
			fmt.Fprintf(&b, "             %s %s\n", prefix, c.Fix)
		}
	}
	if r.Healthy() {
		b.WriteString("healthy\n")
	} else {
		b.WriteString("NOT healthy\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
