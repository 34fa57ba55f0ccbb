package share

import (
	"fmt"
	"math"
)

// Validate checks r the way a reader does: Schema must lie in
// [MinSchemaVersion, SchemaVersion] (else ErrSchema), and the record must
// carry what a guest needs, with sane values (else ErrGarbled):
//   - UUID or Domain, Instance, a non-zero Timestamp that can be written
//     back as RFC 3339;
//   - a ZonePackage entry in Zones; no zone whose usage+idle overflows;
//   - IntervalSeconds, WUE, CarbonIntensity, EmbodiedGramsPerHour finite and
//     not negative; VCPUs not negative;
//   - PUE either unset (0) or finite and at least 1 (a PUE below 1 is
//     physically impossible).
//
// The writer validates before writing, so a host never publishes a record
// that every guest would refuse.
func (r *Record) Validate() error {
	if r == nil {
		return fmt.Errorf("%w: no record", ErrGarbled)
	}
	if err := checkSchema(r.Schema); err != nil {
		return err
	}
	if r.UUID == "" && r.Domain == "" {
		return fmt.Errorf("%w: record has neither uuid nor domain", ErrGarbled)
	}
	if r.Instance == "" {
		return fmt.Errorf("%w: record has no instance", ErrGarbled)
	}
	if r.Timestamp.IsZero() {
		return fmt.Errorf("%w: record has no timestamp", ErrGarbled)
	}
	if _, err := r.Timestamp.MarshalText(); err != nil {
		// Parsing accepts a few times (a +24:00 offset) that cannot be
		// written back; a record must survive a round trip.
		return fmt.Errorf("%w: timestamp: %v", ErrGarbled, err)
	}
	if _, ok := r.Zones[ZonePackage]; !ok {
		return fmt.Errorf("%w: record has no %q zone", ErrGarbled, ZonePackage)
	}
	for name, z := range r.Zones {
		if z.UsageUJ > math.MaxUint64-z.IdleUJ {
			return fmt.Errorf("%w: zone %q: usage_uj + idle_uj overflows 64 bits", ErrGarbled, name)
		}
	}
	if r.VCPUs < 0 {
		return fmt.Errorf("%w: vcpus is negative (%d)", ErrGarbled, r.VCPUs)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{
		{"interval_seconds", r.IntervalSeconds},
		{"wue_liters_per_kwh", r.WUE},
		{"carbon_intensity_g_per_kwh", r.CarbonIntensity},
		{"embodied_g_per_hour", r.EmbodiedGramsPerHour},
		{"pue", r.PUE},
	} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) || f.v < 0 {
			return fmt.Errorf("%w: %s is %v, want a finite value >= 0", ErrGarbled, f.name, f.v)
		}
	}
	if r.PUE != 0 && r.PUE < 1 {
		return fmt.Errorf("%w: pue is %v, want 0 (unset) or >= 1", ErrGarbled, r.PUE)
	}
	return nil
}

// checkSchema returns ErrSchema, saying which side to upgrade, unless v is
// a version this build reads.
func checkSchema(v int) error {
	switch {
	case v > SchemaVersion:
		return fmt.Errorf("%w: record schema %d is newer than this build reads (%d..%d): upgrade virtwatt-guest",
			ErrSchema, v, MinSchemaVersion, SchemaVersion)
	case v < MinSchemaVersion:
		return fmt.Errorf("%w: record schema %d is older than this build reads (%d..%d): upgrade virtwatt-host",
			ErrSchema, v, MinSchemaVersion, SchemaVersion)
	}
	return nil
}
