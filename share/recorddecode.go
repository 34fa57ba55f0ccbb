package share

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// decodeRecordFast decodes the record b (trimmed, as ParseRecord trims it)
// into r without reflection, for the common case: the canonical form
// appendRecordJSON writes. It reports false, with r in any state, as soon
// as b holds anything whose meaning to encoding/json is not plain — a key
// that is not exactly one of Record's (a case variant, an unknown field),
// a key given twice, a null, a string with an escape or invalid UTF-8, a
// number of the wrong kind or range, a value of the wrong type, a syntax
// error, no schema or one outside the supported range, a record Validate
// refuses: ParseRecord then decodes b with encoding/json, which says what
// is wrong. So whatever it accepts, encoding/json accepts too and decodes
// to the same Record (FuzzDecodeRecordFast checks it), and what it
// declines is judged by encoding/json alone: ParseRecord accepts and
// refuses exactly what it did with encoding/json only, with the same
// messages.
func decodeRecordFast(b []byte, r *Record) bool {
	d := recordDecoder{b: b}
	var seen uint32
	ok := d.object(func(key []byte) bool {
		f := recordField(key)
		if f < 0 || seen&(1<<f) != 0 {
			return false
		}
		seen |= 1 << f
		return d.field(f, r)
	})
	return ok && d.i == len(d.b) && seen&(1<<fSchema) != 0 && r.Validate() == nil
}

// Record's fields, by their JSON keys.
const (
	fSchema = iota
	fHost
	fDomain
	fUUID
	fInstance
	fSequence
	fTimestamp
	fInterval
	fZones
	fVCPUs
	fVCPUTime
	fCPUTime
	fPUE
	fWUE
	fIntensity
	fIntensitySource
	fEmbodiedPerHour
	fEmbodiedSource
	fLabels
	fMethod
	fModel
	fIdleModel
	fCPUModel
	fEmbodiedUG
	fIntensityZone
	fIntensityTime
)

// recordField is the field whose JSON key is exactly key (encoding/json
// takes an exact match first), -1 for any other key.
func recordField(key []byte) int {
	switch string(key) {
	case "schema":
		return fSchema
	case "host":
		return fHost
	case "domain":
		return fDomain
	case "uuid":
		return fUUID
	case "instance":
		return fInstance
	case "sequence":
		return fSequence
	case "timestamp":
		return fTimestamp
	case "interval_seconds":
		return fInterval
	case "zones":
		return fZones
	case "vcpus":
		return fVCPUs
	case "vcpu_time_ns":
		return fVCPUTime
	case "cpu_time_ns":
		return fCPUTime
	case "pue":
		return fPUE
	case "wue_liters_per_kwh":
		return fWUE
	case "carbon_intensity_g_per_kwh":
		return fIntensity
	case "carbon_intensity_source":
		return fIntensitySource
	case "embodied_g_per_hour":
		return fEmbodiedPerHour
	case "embodied_source":
		return fEmbodiedSource
	case "labels":
		return fLabels
	case "method":
		return fMethod
	case "model":
		return fModel
	case "idle_model":
		return fIdleModel
	case "cpu_model":
		return fCPUModel
	case "embodied_ug":
		return fEmbodiedUG
	case "carbon_intensity_zone":
		return fIntensityZone
	case "carbon_intensity_time":
		return fIntensityTime
	}
	return -1
}

// recordDecoder walks b from i.
type recordDecoder struct {
	b []byte
	i int
}

// field decodes the value of field f into r.
func (d *recordDecoder) field(f int, r *Record) bool {
	var ok bool
	switch f {
	case fSchema:
		r.Schema, ok = d.int()
	case fHost:
		r.Host, ok = d.string()
	case fDomain:
		r.Domain, ok = d.string()
	case fUUID:
		r.UUID, ok = d.string()
	case fInstance:
		r.Instance, ok = d.string()
	case fSequence:
		r.Sequence, ok = d.uint()
	case fTimestamp:
		ok = d.time(&r.Timestamp)
	case fInterval:
		r.IntervalSeconds, ok = d.float()
	case fZones:
		r.Zones, ok = d.zones()
	case fVCPUs:
		r.VCPUs, ok = d.int()
	case fVCPUTime:
		r.VCPUTimeNS, ok = d.uint()
	case fCPUTime:
		r.CPUTimeNS, ok = d.uint()
	case fPUE:
		r.PUE, ok = d.float()
	case fWUE:
		r.WUE, ok = d.float()
	case fIntensity:
		r.CarbonIntensity, ok = d.float()
	case fIntensitySource:
		r.CarbonIntensitySource, ok = d.string()
	case fEmbodiedPerHour:
		r.EmbodiedGramsPerHour, ok = d.float()
	case fEmbodiedSource:
		r.EmbodiedSource, ok = d.string()
	case fLabels:
		r.Labels, ok = d.labels()
	case fMethod:
		r.Method, ok = d.string()
	case fModel:
		r.Model, ok = d.string()
	case fIdleModel:
		r.IdleModel, ok = d.string()
	case fCPUModel:
		r.CPUModel, ok = d.string()
	case fEmbodiedUG:
		r.EmbodiedUG, ok = d.uint()
	case fIntensityZone:
		r.CarbonIntensityZone, ok = d.string()
	case fIntensityTime:
		ok = d.time(&r.CarbonIntensityTime)
	}
	return ok
}

// space skips JSON white space.
func (d *recordDecoder) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// byte consumes c if it comes next.
func (d *recordDecoder) byte(c byte) bool {
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// plainString consumes a string without escapes, control characters or
// invalid UTF-8 (whose decoding by encoding/json is the bytes between the
// quotes) and returns those bytes.
func (d *recordDecoder) plainString() ([]byte, bool) {
	if !d.byte('"') {
		return nil, false
	}
	start := d.i
	ascii := true
	for ; d.i < len(d.b); d.i++ {
		switch c := d.b[d.i]; {
		case c == '"':
			s := d.b[start:d.i]
			d.i++
			return s, ascii || utf8.Valid(s)
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

// string is plainString as a Go string.
func (d *recordDecoder) string() (string, bool) {
	s, ok := d.plainString()
	return string(s), ok
}

// time decodes a timestamp as encoding/json does: the string's bytes,
// quotes included, given to time.Time.UnmarshalJSON.
func (d *recordDecoder) time(t *time.Time) bool {
	start := d.i
	if _, ok := d.plainString(); !ok {
		return false
	}
	return t.UnmarshalJSON(d.b[start:d.i]) == nil
}

// digits consumes a JSON integer part, 0 or [1-9][0-9]*, and returns it.
func (d *recordDecoder) digits() ([]byte, bool) {
	start := d.i
	if d.i < len(d.b) && d.b[d.i] == '0' {
		d.i++
	} else {
		for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
			d.i++
		}
	}
	return d.b[start:d.i], d.i > start
}

// integerEnds reports whether the number just read ends here: not followed
// by a fraction, an exponent or another digit (a leading zero).
func (d *recordDecoder) integerEnds() bool {
	if d.i == len(d.b) {
		return true
	}
	switch c := d.b[d.i]; {
	case c == '.', c == 'e', c == 'E', c >= '0' && c <= '9':
		return false
	}
	return true
}

// uint consumes a JSON integer that fits a uint64 (strconv.ParseUint's
// answer, which encoding/json gives).
func (d *recordDecoder) uint() (uint64, bool) {
	digits, ok := d.digits()
	if !ok || !d.integerEnds() {
		return 0, false
	}
	var v uint64
	for _, c := range digits {
		n := uint64(c - '0')
		if v > (1<<64-1-n)/10 {
			return 0, false
		}
		v = v*10 + n
	}
	return v, true
}

// int consumes a JSON integer that fits an int (64 bits: strconv.ParseInt's
// range).
func (d *recordDecoder) int() (int, bool) {
	neg := d.byte('-')
	u, ok := d.uint()
	switch {
	case !ok:
		return 0, false
	case neg && u <= 1<<63:
		return int(-int64(u-1) - 1), true
	case !neg && u < 1<<63:
		return int(u), true
	}
	return 0, false
}

// float consumes a JSON number, given to strconv.ParseFloat as
// encoding/json does; one out of float64's range is declined.
func (d *recordDecoder) float() (float64, bool) {
	start := d.i
	d.byte('-')
	if _, ok := d.digits(); !ok {
		return 0, false
	}
	if d.byte('.') {
		if !d.moreDigits() {
			return 0, false
		}
	}
	if d.byte('e') || d.byte('E') {
		if !d.byte('+') {
			d.byte('-')
		}
		if !d.moreDigits() {
			return 0, false
		}
	}
	if d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		return 0, false // a leading zero
	}
	f, err := strconv.ParseFloat(string(d.b[start:d.i]), 64)
	return f, err == nil
}

// moreDigits consumes [0-9]+.
func (d *recordDecoder) moreDigits() bool {
	start := d.i
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
	}
	return d.i > start
}

// object consumes a JSON object whose keys are plain strings, calling
// member for each with the decoder at its value (white space skipped).
func (d *recordDecoder) object(member func(key []byte) bool) bool {
	if !d.byte('{') {
		return false
	}
	for first := true; ; first = false {
		d.space()
		if first && d.byte('}') {
			return true
		}
		key, ok := d.plainString()
		if !ok {
			return false
		}
		d.space()
		if !d.byte(':') {
			return false
		}
		d.space()
		if !member(key) {
			return false
		}
		d.space()
		if d.byte(',') {
			continue
		}
		return d.byte('}')
	}
}

// zones decodes Record.Zones: an object of zone objects, no name twice.
func (d *recordDecoder) zones() (map[string]ZoneEnergy, bool) {
	zones := make(map[string]ZoneEnergy, 2)
	ok := d.object(func(name []byte) bool {
		if _, dup := zones[string(name)]; dup {
			return false
		}
		var z ZoneEnergy
		var seen [2]bool
		ok := d.object(func(key []byte) bool {
			var f int
			switch string(key) {
			case "usage_uj":
				f = 0
			case "idle_uj":
				f = 1
			default:
				return false
			}
			if seen[f] {
				return false
			}
			seen[f] = true
			var ok bool
			if f == 0 {
				z.UsageUJ, ok = d.uint()
			} else {
				z.IdleUJ, ok = d.uint()
			}
			return ok
		})
		zones[knownZoneName(name)] = z
		return ok
	})
	return zones, ok
}

// knownZoneName is name as a string, without a copy for a known zone.
func knownZoneName(name []byte) string {
	for _, z := range KnownZones {
		if string(name) == z {
			return z
		}
	}
	return string(name)
}

// labels decodes Record.Labels: an object of strings, no name twice.
func (d *recordDecoder) labels() (map[string]string, bool) {
	labels := map[string]string{}
	ok := d.object(func(name []byte) bool {
		if _, dup := labels[string(name)]; dup {
			return false
		}
		v, ok := d.plainString()
		if ok {
			labels[string(name)] = string(v)
		}
		return ok
	})
	return labels, ok
}
