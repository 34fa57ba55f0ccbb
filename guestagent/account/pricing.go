package account

import (
	"fmt"

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
// cloud region is reported at start.
func (p Pricing) Check() error {
	if _, err := estimate.Resolve(p.Lookup); err != nil {
		return err
	}
	if p.PUE != nil && *p.PUE < 1 {
		return fmt.Errorf("pue %v is below 1, which is physically impossible: set it to 1 or more", *p.PUE)
	}
	if p.WUE != nil && *p.WUE < 0 {
		return fmt.Errorf("wue %v is negative: set it to 0 or more", *p.WUE)
	}
	return nil
}

// prices resolves the factors in force given the latest record (nil for a
// tree-only share). When the intensity cannot be resolved it keeps last.
func (p Pricing) prices(rec *share.Record, last Prices) (Prices, error) {
	l := p.Lookup
	out := Prices{PUE: 1, PUESource: SourceDefault, WUESource: SourceDefault}
	if rec != nil {
		l.HostValue, l.HostSource = rec.CarbonIntensity, rec.CarbonIntensitySource
		if rec.PUE >= 1 {
			out.PUE, out.PUESource = rec.PUE, SourceHost
		}
		if rec.WUE > 0 {
			out.WUE, out.WUESource = rec.WUE, SourceHost
		}
		if rec.EmbodiedGramsPerHour > 0 {
			out.EmbodiedGPerHour = rec.EmbodiedGramsPerHour
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
			return out, err
		}
		// The host's value was refused: price with the guest's settings alone.
		l.HostValue, l.HostSource = 0, ""
		in, err2 := estimate.Resolve(l)
		if err2 != nil {
			return out, err2
		}
		out.Intensity, out.intensityResolved = in, true
		return out, err
	}
	out.Intensity, out.intensityResolved = in, true
	return out, nil
}
