package share

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
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
//     physically impossible);
//   - the schema-2 fields as validateV2 says.
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
			return fmt.Errorf("%w: zone %s: usage_uj + idle_uj overflows 64 bits", ErrGarbled, zoneForMessage(name))
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
	return r.validateV2()
}

// validateV2 checks the schema-2 fields: Method one of the two methods
// (or unset), Model and IdleModel short lower-case words — a reader shows
// them as label values, so a newer host's new model is taken as it is
// but not arbitrary bytes —, CPUModel and CarbonIntensityZone printable
// and bounded, CarbonIntensityTime one that can be written back.
func (r *Record) validateV2() error {
	switch r.Method {
	case "", MethodMeasured, MethodEstimated:
	default:
		return fmt.Errorf("%w: method is %q, want %q or %q", ErrGarbled, r.Method, MethodMeasured, MethodEstimated)
	}
	if r.Method == "" && r.Model != "" {
		return fmt.Errorf("%w: model %q without a method", ErrGarbled, r.Model)
	}
	for _, f := range []struct{ name, v string }{{"model", r.Model}, {"idle_model", r.IdleModel}} {
		if !isWord(f.v) {
			return fmt.Errorf("%w: %s is %q, want at most %d of a-z, 0-9, _ or -", ErrGarbled, f.name, f.v, maxWord)
		}
	}
	for _, f := range []struct{ name, v string }{{"cpu_model", r.CPUModel}, {"carbon_intensity_zone", r.CarbonIntensityZone}} {
		if len(f.v) > maxText || !utf8.ValidString(f.v) || strings.IndexFunc(f.v, unicode.IsControl) >= 0 {
			return fmt.Errorf("%w: %s is not printable UTF-8 of at most %d bytes", ErrGarbled, f.name, maxText)
		}
	}
	if _, err := r.CarbonIntensityTime.MarshalText(); err != nil {
		return fmt.Errorf("%w: carbon_intensity_time: %v", ErrGarbled, err)
	}
	return nil
}

// Bounds on the schema-2 strings.
const (
	maxWord = 32
	maxText = 256
)

func isWord(s string) bool {
	if len(s) > maxWord {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' && c != '-' {
			return false
		}
	}
	return true
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

// zoneForMessage names a zone in a message: a known name as such, any
// other only by its length (a share's content is never quoted).
func zoneForMessage(name string) string {
	if KnownZone(name) {
		return fmt.Sprintf("%q", name)
	}
	return fmt.Sprintf("with an unknown name (%d bytes)", len(name))
}

// Sanitize bounds what a validated record holds, as the reader of a share
// written by a stranger must, and returns one line per kind of thing it
// dropped or cut (none for a record virtwatt-host wrote):
//   - zones whose name is not one of KnownZones are dropped;
//   - host, domain, uuid, instance and the two sources are cut to
//     MaxFieldBytes;
//   - labels whose name is not a Prometheus label name are dropped, at most
//     MaxLabels are kept (the first by name), and values are cut to
//     MaxLabelValueBytes;
//
// as virtwatt-host bounds the labels it writes. Strings are cut at a
// UTF-8 boundary. The lines never quote the record's content.
func (r *Record) Sanitize() []string {
	var problems []string
	unknown := 0
	for name := range r.Zones {
		if !KnownZone(name) {
			delete(r.Zones, name)
			unknown++
		}
	}
	if unknown > 0 {
		problems = append(problems, fmt.Sprintf("%d zones with unknown names dropped (read: %v)", unknown, KnownZones))
	}
	for _, f := range []struct {
		name string
		p    *string
	}{
		{"host", &r.Host}, {"domain", &r.Domain}, {"uuid", &r.UUID}, {"instance", &r.Instance},
		{"carbon_intensity_source", &r.CarbonIntensitySource}, {"embodied_source", &r.EmbodiedSource},
	} {
		if len(*f.p) > MaxFieldBytes {
			problems = append(problems, fmt.Sprintf("%s is %d bytes long: cut to %d", f.name, len(*f.p), MaxFieldBytes))
			*f.p = TruncateUTF8(*f.p, MaxFieldBytes)
		}
	}
	if len(r.Labels) > 0 {
		problems = append(problems, sanitizeLabels(r)...)
	}
	return problems
}

// sanitizeLabels applies Sanitize's rules to r.Labels.
func sanitizeLabels(r *Record) []string {
	var problems []string
	names := make([]string, 0, len(r.Labels))
	invalid := 0
	for name := range r.Labels {
		if len(name) > MaxFieldBytes || ValidLabelName(name) != nil {
			invalid++
			continue
		}
		names = append(names, name)
	}
	if invalid > 0 {
		problems = append(problems, fmt.Sprintf("%d labels whose name is not a Prometheus label name dropped", invalid))
	}
	slices.Sort(names)
	if len(names) > MaxLabels {
		problems = append(problems, fmt.Sprintf("%d labels: only the first %d by name kept", len(names), MaxLabels))
		names = names[:MaxLabels]
	}
	kept := make(map[string]string, len(names))
	cut := 0
	for _, name := range names {
		v := r.Labels[name]
		if len(v) > MaxLabelValueBytes {
			v = TruncateUTF8(v, MaxLabelValueBytes)
			cut++
		}
		kept[name] = v
	}
	if cut > 0 {
		problems = append(problems, fmt.Sprintf("%d label values longer than %d bytes cut", cut, MaxLabelValueBytes))
	}
	if len(kept) == 0 {
		kept = nil
	}
	r.Labels = kept
	return problems
}
