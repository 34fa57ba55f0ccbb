package share

import (
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/virtwatt/virtwatt/internal/jsonappend"
)

// appendRecordJSON appends rec as encoding/json's Encoder (SetEscapeHTML
// false) would write it, byte for byte, newline included, without
// reflection and, with keys' capacity enough for its labels, without
// allocating: the writer encodes one record per VM per tick. It reports
// false, having appended nothing that counts, for what only
// encoding/json can answer (a float that is NaN or infinite, a time
// MarshalJSON refuses): the caller then falls back to it, errors included.
// keys is scratch space for sorting map keys, returned for reuse.
func appendRecordJSON(b []byte, rec *Record, keys []string) ([]byte, []string, bool) {
	if !jsonFloatOK(rec.IntervalSeconds, rec.PUE, rec.WUE, rec.CarbonIntensity, rec.EmbodiedGramsPerHour) || !jsonTimeOK(rec.Timestamp) || !jsonTimeOK(rec.CarbonIntensityTime) {
		return b, keys, false
	}
	b = append(b, `{"schema":`...)
	b = strconv.AppendInt(b, int64(rec.Schema), 10)
	b = append(b, `,"host":`...)
	b = appendJSONString(b, rec.Host)
	b = append(b, `,"domain":`...)
	b = appendJSONString(b, rec.Domain)
	b = append(b, `,"uuid":`...)
	b = appendJSONString(b, rec.UUID)
	b = append(b, `,"instance":`...)
	b = appendJSONString(b, rec.Instance)
	b = append(b, `,"sequence":`...)
	b = strconv.AppendUint(b, rec.Sequence, 10)
	b = append(b, `,"timestamp":"`...)
	b = rec.Timestamp.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","interval_seconds":`...)
	b = appendJSONFloat(b, rec.IntervalSeconds)
	b = append(b, `,"zones":`...)
	if rec.Zones == nil {
		b = append(b, "null"...)
	} else {
		keys = keys[:0]
		for k := range rec.Zones {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			z := rec.Zones[k]
			b = appendJSONString(b, k)
			b = append(b, `:{"usage_uj":`...)
			b = strconv.AppendUint(b, z.UsageUJ, 10)
			b = append(b, `,"idle_uj":`...)
			b = strconv.AppendUint(b, z.IdleUJ, 10)
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	b = append(b, `,"vcpus":`...)
	b = strconv.AppendInt(b, int64(rec.VCPUs), 10)
	b = append(b, `,"vcpu_time_ns":`...)
	b = strconv.AppendUint(b, rec.VCPUTimeNS, 10)
	b = append(b, `,"cpu_time_ns":`...)
	b = strconv.AppendUint(b, rec.CPUTimeNS, 10)
	b = appendOmitFloat(b, `,"pue":`, rec.PUE)
	b = appendOmitFloat(b, `,"wue_liters_per_kwh":`, rec.WUE)
	b = appendOmitFloat(b, `,"carbon_intensity_g_per_kwh":`, rec.CarbonIntensity)
	b = appendOmitString(b, `,"carbon_intensity_source":`, rec.CarbonIntensitySource)
	b = appendOmitFloat(b, `,"embodied_g_per_hour":`, rec.EmbodiedGramsPerHour)
	b = appendOmitString(b, `,"embodied_source":`, rec.EmbodiedSource)
	if len(rec.Labels) > 0 {
		keys = keys[:0]
		for k := range rec.Labels {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, `,"labels":{`...)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendJSONString(b, rec.Labels[k])
		}
		b = append(b, '}')
	}
	b = appendOmitString(b, `,"method":`, rec.Method)
	b = appendOmitString(b, `,"model":`, rec.Model)
	b = appendOmitString(b, `,"idle_model":`, rec.IdleModel)
	b = appendOmitString(b, `,"cpu_model":`, rec.CPUModel)
	if rec.EmbodiedUG != 0 {
		b = append(b, `,"embodied_ug":`...)
		b = strconv.AppendUint(b, rec.EmbodiedUG, 10)
	}
	b = appendOmitString(b, `,"carbon_intensity_zone":`, rec.CarbonIntensityZone)
	if !rec.CarbonIntensityTime.IsZero() {
		b = append(b, `,"carbon_intensity_time":"`...)
		b = rec.CarbonIntensityTime.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	b = append(b, "}\n"...)
	return b, keys, true
}

func jsonFloatOK(fs ...float64) bool {
	for _, f := range fs {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return false
		}
	}
	return true
}

// jsonTimeOK: what time.Time.MarshalJSON accepts (a four-digit year, a
// zone offset under 24 hours).
func jsonTimeOK(t time.Time) bool {
	if y := t.Year(); y < 0 || y > 9999 {
		return false
	}
	_, off := t.Zone()
	return off > -24*3600 && off < 24*3600
}

func appendOmitFloat(b []byte, key string, f float64) []byte {
	if f == 0 {
		return b
	}
	return appendJSONFloat(append(b, key...), f)
}

func appendOmitString(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	return appendJSONString(append(b, key...), s)
}

// appendJSONFloat is encoding/json's float64 encoding (ES6 number to
// string).
func appendJSONFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// jsonHex is the hex digits of a \u escape (recorddecode's tests use it).
const jsonHex = "0123456789abcdef"

// appendJSONString is encoding/json's string encoding without HTML
// escaping.
func appendJSONString(b []byte, s string) []byte {
	return jsonappend.String(b, s, false)
}
