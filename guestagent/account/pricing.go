package account

import (
	"fmt"
	"strings"

	"github.com/virtwatt/virtwatt/estimate"
	"github.com/virtwatt/virtwatt/share"
)

// Sources of PUE and WUE values, the label values of virtwatt_pue{source}.
const (
	SourceGuest   = "guest"   // --pue / --wue or the guest's TOML
	SourceHost    = "host"    // the host's record
	SourceDefault = "default" // PUE 1.0, WUE 0
)

// Pricing is the guest's side of pricing energy. Nil pointers are unset.
type Pricing struct {
	// Lookup holds the guest's intensity settings (Override, Country,
	// Region, CloudProvider, CloudRegion); HostValue and HostSource are
	// filled from each record.
	Lookup estimate.Lookup
	PUE    *float64
	WUE    *float64
}

// Prices are the factors in force for one delta of energy.
type Prices struct {
	Intensity         estimate.Intensity
	PUE, WUE          float64
	PUESource         string
	WUESource         string
	EmbodiedGPerHour  float64
	EmbodiedSource    string
	intensityResolved bool
}

// Check resolves the guest's settings alone, so that a bad country or
// cloud region is reported at start, and checks the guest's own factors
// against the ranges a record's are held to (share.MinPUE..MaxPUE,
// 0..MaxWUE, 0..MaxCarbonIntensity): out of them, products overflow.
func (p Pricing) Check() error {
	if p.Lookup.OverrideSet || p.Lookup.Override > 0 {
		if v := p.Lookup.Override; !inRange(v, 0, share.MaxCarbonIntensity) {
			return fmt.Errorf("carbon_intensity (--carbon-intensity) %v is out of range (0 to %v gCO2e/kWh): set the grid's figure",
				v, share.MaxCarbonIntensity)
		}
	}
	if _, err := estimate.Resolve(p.Lookup); err != nil {
		return err
	}
	if p.PUE != nil && !inRange(*p.PUE, share.MinPUE, share.MaxPUE) {
		return fmt.Errorf("pue (--pue) %v is out of range (%v to %v): a PUE below 1 is physically impossible, and none exceeds %v",
			*p.PUE, share.MinPUE, share.MaxPUE, share.MaxPUE)
	}
	if p.WUE != nil && !inRange(*p.WUE, 0, share.MaxWUE) {
		return fmt.Errorf("wue (--wue) %v is out of range (0 to %v L/kWh): set it to the data center's figure", *p.WUE, share.MaxWUE)
	}
	return nil
}

// hostSource is a record's carbon_intensity_source as the host's own
// description, for estimate.Resolve to prefix with "host:": a host that
// names no source of its own writes "host" (or "host:<source>"), which
// would read "host:host".
func hostSource(s string) string {
	s = strings.TrimSpace(s)
	if s == estimate.SourceHost {
		return ""
	}
	return strings.TrimPrefix(s, estimate.SourceHost+":")
}

// inRange reports whether v is a number in [lo, hi] (NaN is not).
func inRange(v, lo, hi float64) bool { return v >= lo && v <= hi }

// prices resolves the factors in force given the latest record (nil for a
// tree-only share). When the intensity cannot be resolved it keeps last.
// A record's factor out of its range (see package share) is refused, as
// if the record did not give it: the next source prices instead, and the
// refusal is returned (one line per factor, for the accountant to count
// and log).
func (p Pricing) prices(rec *share.Record, last Prices) (Prices, []string, error) {
	l := p.Lookup
	out := Prices{PUE: 1, PUESource: SourceDefault, WUESource: SourceDefault}
	var refused []string
	refuse := func(field string, v, lo, hi float64, unit string) {
		refused = append(refused, fmt.Sprintf("%s %v in the host's record is out of range (%v to %v%s): ignored", field, v, lo, hi, unit))
	}
	if rec != nil {
		switch v := rec.CarbonIntensity; {
		case v > share.MaxCarbonIntensity:
			refuse("carbon_intensity_g_per_kwh", v, 0, share.MaxCarbonIntensity, " gCO2e/kWh")
		default:
			l.HostValue, l.HostSource = v, hostSource(rec.CarbonIntensitySource)
		}
		switch v := rec.PUE; {
		case v == 0: // not given
		case !inRange(v, share.MinPUE, share.MaxPUE):
			refuse("pue", v, share.MinPUE, share.MaxPUE, "")
		default:
			out.PUE, out.PUESource = v, SourceHost
		}
		switch v := rec.WUE; {
		case v == 0: // not given
		case !inRange(v, 0, share.MaxWUE):
			refuse("wue_liters_per_kwh", v, 0, share.MaxWUE, " L/kWh")
		default:
			out.WUE, out.WUESource = v, SourceHost
		}
		if rec.Schema >= 2 && (rec.EmbodiedUG > 0 || rec.EmbodiedSource != "") {
			// The cumulative embodied_ug is the figure (see package doc).
			out.EmbodiedSource = rec.EmbodiedSource
			if out.EmbodiedSource == "" {
				out.EmbodiedSource = SourceHost
			}
		}
		switch v := rec.EmbodiedGramsPerHour; {
		case v == 0: // not given
		case !inRange(v, 0, share.MaxEmbodiedGramsPerHour):
			refuse("embodied_g_per_hour", v, 0, share.MaxEmbodiedGramsPerHour, " g/h")
		default:
			out.EmbodiedGPerHour = v
			out.EmbodiedSource = rec.EmbodiedSource
			if out.EmbodiedSource == "" {
				out.EmbodiedSource = SourceHost
			}
		}
	}
	if p.PUE != nil {
		out.PUE, out.PUESource = *p.PUE, SourceGuest
	}
	if p.WUE != nil {
		out.WUE, out.WUESource = *p.WUE, SourceGuest
	}
	in, err := estimate.Resolve(l)
	if err != nil {
		if last.intensityResolved {
			out.Intensity, out.intensityResolved = last.Intensity, true
			return out, refused, err
		}
		// The host's value was refused: price with the guest's settings alone.
		l.HostValue, l.HostSource = 0, ""
		in, err2 := estimate.Resolve(l)
		if err2 != nil {
			return out, refused, err2
		}
		out.Intensity, out.intensityResolved = in, true
		return out, refused, err
	}
	out.Intensity, out.intensityResolved = in, true
	return out, refused, nil
}
