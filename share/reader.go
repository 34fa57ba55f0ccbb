package share

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// Sentinel errors returned (wrapped with %w, together with the file's path
// where there is one) by the reading side. Test with errors.Is.
var (
	// ErrTooLarge: a share file is larger than the limit given to
	// ReadFileBounded (MaxFileSize for the files of the share).
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

// ReadFileBounded reads the regular file at path, refusing any file larger
// than max bytes with ErrTooLarge without reading it through: the size the
// file system reports is checked first, and at most max+1 bytes are read
// in any case (some file systems report a size of 0 or 4096). A file that
// is not a regular file (a FIFO or a device planted in the share) is
// refused with ErrGarbled; it is opened non-blocking so that a FIFO cannot
// hang the reader. An empty file gives ErrEmpty.
func ReadFileBounded(path string, max int64) ([]byte, error) {
	if max < 0 {
		max = 0
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err // *PathError names the path
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w: not a regular file (mode %s)", path, ErrGarbled, fi.Mode())
	}
	if fi.Size() > max {
		return nil, fmt.Errorf("%s: %w: %d bytes, the limit is %d", path, ErrTooLarge, fi.Size(), max)
	}
	// Read one byte more than allowed, to see a file that grew (or whose
	// reported size lied) past the limit.
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: %w: more than %d bytes", path, ErrTooLarge, max)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, fmt.Errorf("%s: %w", path, ErrEmpty)
	}
	return b, nil
}

// ParseRecord decodes and validates a record. It is strict about what it
// needs and lenient about what it does not know:
//   - empty input gives ErrEmpty; input that is not one JSON object gives
//     ErrGarbled;
//   - the schema version is checked before anything else, so a record from
//     a newer host is reported as ErrSchema (upgrade virtwatt-guest), not as
//     garbled, even when its fields changed shape;
//   - unknown fields are ignored (forward compatibility within a schema);
//   - the result must pass Record.Validate.
func ParseRecord(b []byte) (*Record, error) {
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
		return nil, fmt.Errorf("%w: %v", ErrGarbled, err)
	}
	if probe.Schema == nil {
		return nil, fmt.Errorf("%w: record has no schema field", ErrSchema)
	}
	var v int
	if err := json.Unmarshal(*probe.Schema, &v); err != nil {
		return nil, fmt.Errorf("%w: schema %s is not an integer", ErrSchema, *probe.Schema)
	}
	if err := checkSchema(v); err != nil {
		return nil, err
	}
	r := new(Record)
	if err := json.Unmarshal(trimmed, r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrGarbled, err)
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return r, nil
}

// ReadRecord reads and parses dir/RecordFile, bounded by MaxFileSize. Every
// error names the file.
func ReadRecord(dir string) (*Record, error) {
	path := filepath.Join(dir, RecordFile)
	b, err := ReadFileBounded(path, MaxFileSize)
	if err != nil {
		return nil, err
	}
	r, err := ParseRecord(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}
