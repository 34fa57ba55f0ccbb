package share

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Sentinel errors returned (wrapped with %w, together with the file's path
// where there is one) by the reading side. Test with errors.Is.
var (
	// ErrTooLarge: a share file is larger than the limit given to
	// Dir.ReadFile (MaxFileSize for the files of the share).
	ErrTooLarge = errors.New("share file too large")
	// ErrEmpty: a share file holds nothing (or only white space).
	ErrEmpty = errors.New("share file empty")
	// ErrSchema: the record's schema version is outside
	// [MinSchemaVersion, SchemaVersion]; the message says which agent to
	// upgrade.
	ErrSchema = errors.New("unsupported record schema")
	// ErrGarbled: a share file does not parse, or holds values no honest
	// writer produces.
	ErrGarbled = errors.New("garbled share file")
)

// ParseRecord decodes and validates a record. It is strict about what it
// needs and lenient about what it does not know:
//   - empty input gives ErrEmpty; input that is not one JSON object gives
//     ErrGarbled;
//   - the schema version is checked before anything else, so a record from
//     a newer host is reported as ErrSchema (upgrade virtwatt-guest), not as
//     garbled, even when its fields changed shape;
//   - unknown fields are ignored (forward compatibility within a schema);
//   - the result must pass Record.Validate.
//
// A record in the form virtwatt-host writes is decoded without reflection
// (decodeRecordFast); anything else, and everything refused, is decoded
// by encoding/json (parseRecordJSON), which alone says what is accepted
// and what is wrong.
func ParseRecord(b []byte) (*Record, error) {
	if trimmed := bytes.TrimSpace(b); len(trimmed) > 0 && trimmed[0] == '{' {
		r := new(Record)
		if decodeRecordFast(trimmed, r) {
			return r, nil
		}
	}
	return parseRecordJSON(b)
}

// parseRecordJSON is ParseRecord by encoding/json, for every input.
func parseRecordJSON(b []byte) (*Record, error) {
	trimmed := bytes.TrimSpace(b)
	if len(trimmed) == 0 {
		return nil, ErrEmpty
	}
	if trimmed[0] != '{' {
		return nil, fmt.Errorf("%w: not a JSON object", ErrGarbled)
	}
	var probe struct {
		Schema *json.RawMessage `json:"schema"`
	}
	if err := json.Unmarshal(trimmed, &probe); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrGarbled, jsonProblem(err, len(trimmed)))
	}
	if probe.Schema == nil {
		return nil, fmt.Errorf("%w: record has no schema field", ErrSchema)
	}
	var v int
	if err := json.Unmarshal(*probe.Schema, &v); err != nil {
		return nil, fmt.Errorf("%w: schema is not an integer (%d bytes of JSON)", ErrSchema, len(*probe.Schema))
	}
	if err := checkSchema(v); err != nil {
		return nil, err
	}
	r := new(Record)
	if err := json.Unmarshal(trimmed, r); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrGarbled, jsonProblem(err, len(trimmed)))
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return r, nil
}

// ReadRecord reads and parses dir/RecordFile, bounded by MaxFileSize and
// confined to dir (see Dir.ReadFile). Every error names the file.
func ReadRecord(dir string) (*Record, error) {
	d, err := OpenDir(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.ReadRecord()
}

// ReadRecord is ReadRecord on the opened share directory d.
func (d *Dir) ReadRecord() (*Record, error) { return d.readRecord(RecordFile) }

// readRecord reads, parses and validates the record at file (a path
// beneath d, read as ReadFile reads it).
func (d *Dir) readRecord(file string) (*Record, error) {
	b, err := d.ReadFile(file, MaxFileSize)
	if err != nil {
		return nil, err
	}
	r, err := ParseRecord(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.display(file), err)
	}
	return r, nil
}

// jsonProblem describes a decoding error of n bytes of JSON without
// quoting them (encoding/json quotes the character at fault).
func jsonProblem(err error, n int) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("not valid JSON: syntax error at byte %d of %d", syn.Offset, n)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q: a JSON %s where a %s belongs", fieldForMessage(typ.Field), typ.Value, typ.Type)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Sprintf("not valid JSON: cut short after %d bytes", n)
	}
	return fmt.Sprintf("not valid JSON (%d bytes)", n)
}

// fieldForMessage is encoding/json's path of a field, with the map keys
// (zone and label names, written by the share's author) left out.
func fieldForMessage(path string) string {
	parts := strings.Split(path, ".")
	for i := 1; i < len(parts); i++ {
		if parts[i-1] == "zones" || parts[i-1] == "labels" {
			parts[i] = "<name>"
		}
	}
	out := strings.Join(parts, ".")
	if len(out) > 64 {
		out = TruncateUTF8(out, 64) + "…"
	}
	return out
}
