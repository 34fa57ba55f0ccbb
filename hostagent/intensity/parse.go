package intensity

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// MaxBytes bounds what is read of a file or an HTTP body: an intensity
// reading is a few hundred bytes; a CSV history of a year of hourly rows
// is under 512 KiB.
const MaxBytes = 512 << 10

// MaxZoneLen bounds a zone name (Electricity Maps' keys are like
// "US-CAL-CISO").
const MaxZoneLen = 64

// MaxFutureSkew is how far in the future a reading's time may lie (clocks
// that disagree, a forecast hour); further is refused.
const MaxFutureSkew = 24 * time.Hour

// emJSON is Electricity Maps' carbon-intensity/latest response, the JSON
// shape both the file and the URL sources read:
//
//	{"zone":"DE","carbonIntensity":302,"datetime":"2026-12-01T13:00:00.000Z",
//	 "updatedAt":"2026-12-01T13:41:07.356Z","createdAt":"…",
//	 "emissionFactorType":"lifecycle","isEstimated":true,"estimationMethod":"TIME_SLICER_AVERAGE"}
//
// carbon_intensity_g_per_kwh (the share record's name) is accepted for
// carbonIntensity. Other fields are ignored.
type emJSON struct {
	Zone            string   `json:"zone"`
	CarbonIntensity *float64 `json:"carbonIntensity"`
	GramsPerKWh     *float64 `json:"carbon_intensity_g_per_kwh"`
	Datetime        string   `json:"datetime"`
	UpdatedAt       string   `json:"updatedAt"`
}

// errIncomplete marks content that may be a file caught mid-write.
var errIncomplete = errors.New("incomplete (caught mid-write?)")

// Parse reads one reading from a file's or a response's content: JSON
// (an object, first non-blank byte '{') or CSV (anything else). It checks
// the value (Check), the zone and the time against now; Source is left
// for the caller.
func Parse(b []byte, now time.Time) (Value, error) {
	t := bytes.TrimLeft(b, " \t\r\n\ufeff")
	var v Value
	var err error
	switch {
	case len(bytes.TrimSpace(t)) == 0:
		return Value{}, fmt.Errorf("empty: %w", errIncomplete)
	case t[0] == '{':
		v, err = parseJSON(t)
	case t[0] == '[':
		return Value{}, errors.New("JSON: an array: want one object, as carbon-intensity/latest answers")
	default:
		v, err = parseCSV(b)
	}
	if err != nil {
		return Value{}, err
	}
	return v, checkValue(v, now)
}

func parseJSON(b []byte) (Value, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	var r emJSON
	if err := dec.Decode(&r); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return Value{}, fmt.Errorf("JSON: %w", errIncomplete)
		}
		return Value{}, fmt.Errorf("JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Value{}, errors.New("JSON: more than one object")
	}
	var g float64
	switch {
	case r.CarbonIntensity == nil && r.GramsPerKWh == nil:
		return Value{}, errors.New("JSON: no carbonIntensity (null or missing: the zone has no data for now)")
	case r.CarbonIntensity != nil && r.GramsPerKWh != nil && *r.CarbonIntensity != *r.GramsPerKWh:
		return Value{}, fmt.Errorf("JSON: carbonIntensity %v and carbon_intensity_g_per_kwh %v disagree: give one",
			*r.CarbonIntensity, *r.GramsPerKWh)
	case r.CarbonIntensity != nil:
		g = *r.CarbonIntensity
	default:
		g = *r.GramsPerKWh
	}
	v := Value{GramsPerKWh: g, Zone: r.Zone}
	ts, field := r.Datetime, "datetime"
	if ts == "" {
		ts, field = r.UpdatedAt, "updatedAt"
	}
	if ts != "" {
		t, err := parseTime(ts)
		if err != nil {
			return Value{}, fmt.Errorf("JSON: %s: %w", field, err)
		}
		v.Time = t
	}
	return v, nil
}

// CSV columns, by header name (case-insensitive): the value, and the
// optional zone and time.
var (
	csvValue = []string{"carbon_intensity_g_per_kwh", "carbonintensity", "carbon_intensity"}
	csvZone  = []string{"zone"}
	csvTime  = []string{"datetime", "timestamp", "time"}
)

// parseCSV reads a header row and at least one data row; the last row is
// the reading (a tool may append). The content must end with a newline:
// without one the last row may be cut.
func parseCSV(b []byte) (Value, error) {
	if b[len(b)-1] != '\n' {
		return Value{}, fmt.Errorf("CSV: no newline after the last row: %w", errIncomplete)
	}
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\ufeff"))))
	r.TrimLeadingSpace = true
	rows, err := r.ReadAll()
	if err != nil {
		return Value{}, fmt.Errorf("CSV: %w", err)
	}
	if len(rows) < 2 {
		return Value{}, fmt.Errorf("CSV: a header row and at least one data row are needed (e.g. %q): %w",
			"datetime,zone,carbon_intensity_g_per_kwh", errIncomplete)
	}
	col := func(names []string) int {
		for _, n := range names {
			for i, h := range rows[0] {
				if strings.EqualFold(strings.TrimSpace(h), n) {
					return i
				}
			}
		}
		return -1
	}
	vi, zi, ti := col(csvValue), col(csvZone), col(csvTime)
	if vi < 0 {
		return Value{}, fmt.Errorf("CSV: the header %q has no carbon_intensity_g_per_kwh column", strings.Join(rows[0], ","))
	}
	row := rows[len(rows)-1]
	line := len(rows) // rows hold no newline in practice: the row number is the line
	g, err := strconv.ParseFloat(strings.TrimSpace(row[vi]), 64)
	if err != nil {
		return Value{}, fmt.Errorf("CSV line %d: carbon_intensity_g_per_kwh %q is not a number", line, row[vi])
	}
	v := Value{GramsPerKWh: g}
	if zi >= 0 {
		v.Zone = strings.TrimSpace(row[zi])
	}
	if ti >= 0 && strings.TrimSpace(row[ti]) != "" {
		t, err := parseTime(strings.TrimSpace(row[ti]))
		if err != nil {
			return Value{}, fmt.Errorf("CSV line %d: %s: %w", line, rows[0][ti], err)
		}
		v.Time = t
	}
	return v, nil
}

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time (e.g. 2026-12-01T13:00:00Z)", s)
	}
	return t.UTC(), nil
}

// checkValue refuses what a record cannot carry or a guest would misread.
func checkValue(v Value, now time.Time) error {
	if err := Check(v.GramsPerKWh); err != nil {
		return err
	}
	if v.GramsPerKWh == 0 {
		return errors.New("carbon intensity 0 would read as \"not set\" in the records (direct factor of a zone without fossil?): use the lifecycle factor")
	}
	if len(v.Zone) > MaxZoneLen || strings.IndexFunc(v.Zone, func(r rune) bool {
		return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
	}) >= 0 {
		return fmt.Errorf("zone %q is not a zone key (at most %d of A-Z, a-z, 0-9, -, _, .)", v.Zone, MaxZoneLen)
	}
	if !v.Time.IsZero() && v.Time.After(now.Add(MaxFutureSkew)) {
		return fmt.Errorf("time %s is more than %v ahead of this host's clock", v.Time.Format(time.RFC3339), MaxFutureSkew)
	}
	return nil
}
