package powercurve

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// Saved is what the state file keeps of the power curves, by counted zone.
type Saved struct {
	Zones map[string]*SavedZone `json:"zones"`
}

// SavedZone is one zone's learning window and its calibrated curve.
type SavedZone struct {
	// CPUs is the online CPU count the points were binned for.
	CPUs int `json:"cpus,omitempty"`
	// Bins holds the window's points by load level, oldest first; each
	// point is [busy milli-CPUs, power mW].
	Bins [][][2]uint64 `json:"bins,omitempty"`
	// Calibrated is the curve `virtwatt-host calibrate` measured.
	Calibrated *SavedCurve `json:"calibrated,omitempty"`
}

// SavedCurve is a curve in integers.
type SavedCurve struct {
	Time             time.Time `json:"time"`
	IdleUW           uint64    `json:"idle_uw"`
	MarginalUWPerCPU uint64    `json:"marginal_uw_per_cpu"`
	IdleSEUW         uint64    `json:"idle_se_uw"`
	R2PPM            uint64    `json:"r2_ppm"` // R² × 10^6, 0 for a negative R²
	ResidualUW       uint64    `json:"residual_uw"`
	Samples          uint64    `json:"samples"`
	SpreadMilliCPUs  uint64    `json:"spread_mcpu"`
}

// Bounds of a valid Saved.
const (
	MaxBins       = 256
	MaxPerBin     = 1024
	maxMilliCPUs  = 1 << 24 // 16,777 CPUs
	maxMilliwatts = 1 << 40 // 1.1 GW
	maxSavedUW    = uint64(maxUW)
	maxCPUs       = 1 << 20
)

// FieldError names what is wrong with a Saved value: Path is relative to
// the Saved object (e.g. zones["package"].bins[3][1][0]).
type FieldError struct{ Path, Problem string }

func (e *FieldError) Error() string { return e.Path + " " + e.Problem }

// Validate checks every bound of s; the error is a *FieldError.
func (s *Saved) Validate() error {
	if s == nil {
		return nil
	}
	for z, sz := range s.Zones {
		p := "zones[" + strconv.Quote(z) + "]"
		if z == "" || len(z) > 256 {
			return &FieldError{p, "has an empty or overlong zone name"}
		}
		if sz == nil {
			return &FieldError{p, "is null, want an object"}
		}
		if sz.CPUs < 0 || sz.CPUs > maxCPUs {
			return &FieldError{p + ".cpus", fmt.Sprintf("is %d, want 1 to %d", sz.CPUs, maxCPUs)}
		}
		if len(sz.Bins) > MaxBins {
			return &FieldError{p + ".bins", fmt.Sprintf("has %d load levels, at most %d", len(sz.Bins), MaxBins)}
		}
		if len(sz.Bins) > 0 && sz.CPUs == 0 {
			return &FieldError{p + ".cpus", "is missing: the points cannot be binned without it"}
		}
		for i, b := range sz.Bins {
			bp := p + ".bins[" + strconv.Itoa(i) + "]"
			if len(b) > MaxPerBin {
				return &FieldError{bp, fmt.Sprintf("has %d points, at most %d", len(b), MaxPerBin)}
			}
			for j, pt := range b {
				if pt[0] > maxMilliCPUs {
					return &FieldError{bp + "[" + strconv.Itoa(j) + "][0]", fmt.Sprintf("is %d milli-CPUs, above %d", pt[0], maxMilliCPUs)}
				}
				if pt[1] > maxMilliwatts {
					return &FieldError{bp + "[" + strconv.Itoa(j) + "][1]", fmt.Sprintf("is %d mW, above %d", pt[1], maxMilliwatts)}
				}
			}
		}
		if c := sz.Calibrated; c != nil {
			cp := p + ".calibrated"
			if _, err := c.Time.MarshalText(); err != nil {
				return &FieldError{cp + ".time", "cannot be written back: " + err.Error()}
			}
			for _, f := range []struct {
				name string
				v    uint64
			}{{"idle_uw", c.IdleUW}, {"marginal_uw_per_cpu", c.MarginalUWPerCPU}, {"idle_se_uw", c.IdleSEUW}, {"residual_uw", c.ResidualUW}} {
				if f.v > maxSavedUW {
					return &FieldError{cp + "." + f.name, fmt.Sprintf("is %d µW, above %d (1 GW)", f.v, maxSavedUW)}
				}
			}
			if c.IdleUW == 0 {
				return &FieldError{cp + ".idle_uw", "is 0: a calibrated curve has a positive idle power"}
			}
			if c.R2PPM > 1_000_000 {
				return &FieldError{cp + ".r2_ppm", fmt.Sprintf("is %d, above 1000000 (R² ≤ 1)", c.R2PPM)}
			}
			if c.Samples > 1<<32 || c.SpreadMilliCPUs > maxMilliCPUs {
				return &FieldError{cp, "has an implausible samples or spread_mcpu"}
			}
		}
	}
	return nil
}

// SaveWindow writes l's window into z in integers, reusing z's slices.
func (l *Learner) SaveWindow(z *SavedZone) {
	z.CPUs = l.cpus
	if l.win.Len() == 0 {
		z.Bins = nil
		return
	}
	n := len(l.win.bins)
	if cap(z.Bins) < n {
		z.Bins = make([][][2]uint64, n)
	}
	z.Bins = z.Bins[:n]
	for i, b := range l.win.bins {
		sb := z.Bins[i][:0]
		if sb == nil {
			sb = [][2]uint64{} // [] in the file, not null
		}
		for _, p := range b {
			sb = append(sb, [2]uint64{toUnits(p.BusyCPUs, 1e3, maxMilliCPUs), toUnits(p.PowerW, 1e3, maxMilliwatts)})
		}
		z.Bins[i] = sb
	}
}

// RestoreWindow replaces l's window with z's points (rebinned for z.CPUs,
// at most the window's size) and refits.
func (l *Learner) RestoreWindow(z *SavedZone) {
	l.win = NewWindow(l.win.Bins(), l.win.PerBin())
	l.latest, l.accepted, l.haveLatest, l.haveAccepted = Curve{}, Curve{}, false, false
	if z == nil || z.CPUs < 1 {
		return
	}
	for _, b := range z.Bins {
		for _, pt := range b {
			l.win.Add(Point{BusyCPUs: float64(pt[0]) / 1e3, PowerW: float64(pt[1]) / 1e3}, z.CPUs)
		}
	}
	l.cpus = z.CPUs
	if l.win.Len() > 0 {
		l.Refit()
	}
}

// SaveCurve is c in integers, taken at t.
func SaveCurve(c Curve, t time.Time) *SavedCurve {
	return &SavedCurve{
		Time: t, IdleUW: c.IdleUW(), MarginalUWPerCPU: toUnits(c.MarginalW, 1e6, maxSavedUW),
		IdleSEUW: toUnits(c.IdleSEW, 1e6, maxSavedUW), R2PPM: toUnits(c.R2, 1e6, 1_000_000),
		ResidualUW: toUnits(c.ResidualW, 1e6, maxSavedUW), Samples: uint64(max(c.Samples, 0)),
		SpreadMilliCPUs: toUnits(c.SpreadCPUs, 1e3, maxMilliCPUs),
	}
}

// Curve is the saved curve back in floats.
func (s *SavedCurve) Curve() Curve {
	return Curve{
		IdleW: float64(s.IdleUW) / 1e6, MarginalW: float64(s.MarginalUWPerCPU) / 1e6,
		IdleSEW: float64(s.IdleSEUW) / 1e6, R2: float64(s.R2PPM) / 1e6, ResidualW: float64(s.ResidualUW) / 1e6,
		Samples: int(s.Samples), SpreadCPUs: float64(s.SpreadMilliCPUs) / 1e3,
	}
}

// toUnits is v × scale rounded, clamped to [0, limit].
func toUnits(v, scale float64, limit uint64) uint64 {
	x := math.Round(v * scale)
	switch {
	case !(x > 0):
		return 0
	case x >= float64(limit):
		return limit
	}
	return uint64(x)
}
