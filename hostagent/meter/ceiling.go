package meter

import "math"

// Ceilings bound the power a zone can plausibly draw, so that a Tracker can
// tell a counter reset (a reboot restarts RAPL counters near 0) from a wrap.
// A ceiling must never be below what the zone really draws, or measured
// energy would be discarded as resets: every bound here errs on the high
// side, and it only has to be far below what a reset read as a wrap looks
// like (most of a counter's range, usually 262 kJ, in a few seconds).
//
// Where the hardware states its limits (powercap constraint_N_max_power_uw
// and constraint_N_power_limit_uw, or the MSRs PKG_POWER_INFO,
// PKG_POWER_LIMIT, DRAM_POWER_INFO and DRAM_POWER_LIMIT) the ceiling is
// CeilingMargin times the largest of them, and at least MinCeilingUW. The
// maximum is taken over every constraint (long term, short term, peak) and
// over both the stated maximum and the programmed limit, because client
// parts often state only their long-term TDP as a maximum while their
// short-term limit allows two to four times more. Elsewhere the per-kind
// defaults below apply.
const (
	// CeilingMargin multiplies the largest stated limit.
	CeilingMargin = 2
	// MinCeilingUW is the lowest ceiling derived from stated limits: a zone
	// stating a bogus tiny limit must not have every delta discarded.
	MinCeilingUW = 100_000_000 // 100 W

	// DefaultPackageCeilingUW bounds one socket's package (and its core
	// and uncore sub-zones) when nothing is stated: the largest server
	// parts of 2024-2026 are rated 500 W (AMD EPYC 9965, Intel Xeon 6980P)
	// and briefly draw about 1.2× that; 1 kW leaves headroom for their
	// successors.
	DefaultPackageCeilingUW = 1_000_000_000 // 1,000 W per socket
	// DefaultDRAMCeilingUW bounds one socket's DRAM: 12 channels of two
	// DIMMs at about 15 W each is 360 W.
	DefaultDRAMCeilingUW = 500_000_000 // 500 W per socket
	// DefaultPsysCeilingUW bounds the platform (psys) zone, which covers
	// the whole machine (in practice a client or small server board).
	DefaultPsysCeilingUW = 4_000_000_000 // 4,000 W
)

// DefaultCeilingUW is the ceiling of a zone of kind that states no limit.
func DefaultCeilingUW(kind string) uint64 {
	switch kind {
	case KindDRAM:
		return DefaultDRAMCeilingUW
	case KindPsys:
		return DefaultPsysCeilingUW
	}
	return DefaultPackageCeilingUW // package, core, uncore and anything else
}

// Ceiling is the most power, in µW, the zone of r can plausibly draw:
// r.CeilingUW when the meter stated one, else DefaultCeilingUW(r.Kind).
func (r Reading) Ceiling() uint64 {
	if r.CeilingUW != 0 {
		return r.CeilingUW
	}
	return DefaultCeilingUW(r.Kind)
}

// ceilingFromLimits turns the largest stated limit (µW; 0 when none) into a
// ceiling: 0 (the default applies) when nothing was stated, else
// CeilingMargin times it, at least MinCeilingUW, saturating.
func ceilingFromLimits(maxStatedUW uint64) uint64 {
	if maxStatedUW == 0 {
		return 0
	}
	if maxStatedUW > math.MaxUint64/CeilingMargin {
		return math.MaxUint64
	}
	return max(maxStatedUW*CeilingMargin, MinCeilingUW)
}
