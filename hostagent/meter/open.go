package meter

import "fmt"

// Meter kinds accepted by Open.
const (
	OpenAuto     = "auto"
	OpenPowercap = "powercap"
	OpenMSR      = "msr"
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
	return nil, fmt.Errorf("meter: no readable RAPL energy counters (tried powercap at %s and msr at %s). "+
		"Run virtwatt-host as root (energy_uj is root-only since CVE-2020-8694; MSRs need CAP_SYS_RAWIO), "+
		"and load a driver: `modprobe intel_rapl_common intel_rapl_msr` for powercap or `modprobe msr` for MSRs.\n"+
		"  %w\n  %w", powercapRoot, orDefault(msrRoot, defaultMSRRoot), perr, merr)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
