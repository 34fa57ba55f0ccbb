package meter

import (
	"fmt"
	"time"

	"github.com/virtwatt/virtwatt/estimate"
)

// Meter kinds accepted by Open.
const (
	OpenAuto     = "auto"
	OpenPowercap = "powercap"
	OpenMSR      = "msr"
	OpenEstimate = "estimate" // OpenWithEstimate only
)

// Open returns the meter named by kind:
//   - "powercap": RAPL zones under powercapRoot (e.g. /sys/class/powercap);
//   - "msr": raw MSRs under msrRoot (e.g. /dev/cpu), vendor detected;
//   - "auto" (or ""): powercap, falling back to MSR when powercap is absent
//     or unreadable.
//
// When nothing is readable the error names every path tried and the fix.
// An MSR meter holds files open: callers that stop using it may close it
// through io.Closer.
func Open(kind, powercapRoot, msrRoot string) (Meter, error) {
	switch kind {
	case OpenPowercap:
		p, err := NewPowercap(powercapRoot)
		if err != nil {
			return nil, err // not a typed nil inside the interface
		}
		return p, nil
	case OpenMSR:
		m, err := NewMSR(msrRoot)
		if err != nil {
			return nil, err
		}
		return m, nil
	case OpenAuto, "":
	default:
		return nil, fmt.Errorf("meter: unknown kind %q (want %q, %q or %q)", kind, OpenAuto, OpenPowercap, OpenMSR)
	}
	p, perr := NewPowercap(powercapRoot)
	if perr == nil {
		return p, nil
	}
	m, merr := NewMSR(msrRoot)
	if merr == nil {
		return m, nil
	}
	return nil, &NoRAPLError{PowercapRoot: powercapRoot, MSRRoot: orDefault(msrRoot, defaultMSRRoot), Powercap: perr, MSR: merr}
}

// NoRAPLError is Open's error when neither powercap nor the MSRs can be
// read: it names both paths tried and why each failed.
type NoRAPLError struct {
	PowercapRoot, MSRRoot string
	Powercap, MSR         error
}

func (e *NoRAPLError) Error() string {
	return fmt.Sprintf("meter: no readable RAPL energy counters (tried powercap at %s and msr at %s). "+
		"Run virtwatt-host as root (energy_uj is root-only since CVE-2020-8694; MSRs need CAP_SYS_RAWIO), "+
		"and load a driver: `modprobe intel_rapl_common intel_rapl_msr` for powercap or `modprobe msr` for MSRs.\n"+
		"  %v\n  %v", e.PowercapRoot, e.MSRRoot, e.Powercap, e.MSR)
}

// Unwrap gives both causes.
func (e *NoRAPLError) Unwrap() []error { return []error{e.Powercap, e.MSR} }

// Options are what OpenWithEstimate needs: the meter kind (auto, powercap,
// msr or estimate), the RAPL roots, and the estimating meter's options.
type Options struct {
	Kind, PowercapRoot, MSRRoot string
	Estimate                    EstimateOptions
}

// OpenWithEstimate is Open that also knows the estimating meter:
//   - "estimate": the Estimator, always;
//   - "auto" (or ""): RAPL as Open finds it, else the Estimator, with
//     fellBack the *NoRAPLError saying what was tried and why each failed
//     (for the one warning the caller logs);
//   - "powercap", "msr": as Open, never estimating.
func OpenWithEstimate(o Options) (m Meter, fellBack error, err error) {
	switch o.Kind {
	case OpenEstimate:
		e, err := NewEstimator(o.Estimate)
		if err != nil {
			return nil, nil, err
		}
		return e, nil, nil
	case OpenAuto, "":
	default:
		m, err := Open(o.Kind, o.PowercapRoot, o.MSRRoot)
		return m, nil, err
	}
	m, err = Open(o.Kind, o.PowercapRoot, o.MSRRoot)
	if err == nil {
		return m, nil, nil
	}
	e, eerr := NewEstimator(o.Estimate)
	if eerr != nil {
		return nil, nil, fmt.Errorf("%w\n  and the estimating fallback cannot run either: %w", err, eerr)
	}
	return e, err, nil
}

// DefaultEstimateOptions are EstimateOptions with the documented model
// figures, reading procRoot on the wall clock.
func DefaultEstimateOptions(procRoot string) EstimateOptions {
	return EstimateOptions{ProcRoot: procRoot, Params: estimate.DefaultHostPowerParams(), Now: time.Now}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
