package doctor

import (
	"context"
	"fmt"
	"time"

	"github.com/virtwatt/virtwatt/hostagent/intensity"
)

// checkIntensity reads the live carbon intensity source once, as the
// agent does at start: a source that cannot be opened, or whose reading
// is refused, fails (the records would carry the configured constant, or
// no intensity at all, and the operator would not know); a good reading
// is shown with its zone and age. No live source: no check.
func checkIntensity(ctx context.Context, c intensity.Config, now func() time.Time) (Check, bool) {
	if !c.Live() {
		return Check{}, false
	}
	ck := Check{Name: "carbon intensity"}
	var refused error
	src, _, err := intensity.Open(ctx, c, intensity.Options{Now: now, OnFail: func(e error) { refused = e }})
	switch {
	case err != nil:
		ck.Status, ck.Detail = Fail, err.Error()
		ck.Fix = "fix carbon_intensity_file or carbon_intensity_url (and carbon_intensity_auth_file), or remove them to use carbon_intensity"
	case refused != nil:
		ck.Status, ck.Detail = Fail, fmt.Sprintf("the live source's reading is refused: %v; records would carry carbon_intensity (%g) until a reading is good", refused, c.GramsPerKWh)
		ck.Fix = "make the file (or the endpoint) give one reading in Electricity Maps' carbonIntensity JSON shape, or a CSV with a carbon_intensity_g_per_kwh column"
	default:
		v := src.Current()
		ck.Status, ck.Detail = OK, fmt.Sprintf("%s: %g gCO2e/kWh", v.Source, v.GramsPerKWh)
		if v.Zone != "" {
			ck.Detail += ", zone " + v.Zone
		}
		if !v.Time.IsZero() {
			ck.Detail += fmt.Sprintf(", published %s (%s ago)", v.Time.Format(time.RFC3339), now().Sub(v.Time).Round(time.Second))
		}
	}
	return ck, true
}
