package intensity

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/virtwatt/virtwatt/internal/regfile"
)

// File reads a file that another tool rewrites (carbon_intensity_file):
// JSON in Electricity Maps' shape or CSV (see Parse). A reading without a
// time takes the file's modification time. A file that changes while it is
// read, is empty, or does not parse (caught mid-write) is refused: the
// next poll reads it again.
type File struct {
	Path string
	Now  func() time.Time // default time.Now
}

// Describe names the source for logs.
func (f File) Describe() string { return "carbon_intensity_file " + f.Path }

// SourceName is what records say of a value from f.
func (f File) SourceName() string { return "file:" + f.Path }

// Fetch reads and checks the file.
func (f File) Fetch(context.Context) (Value, error) {
	now := time.Now
	if f.Now != nil {
		now = f.Now
	}
	fd, err := regfile.Open(f.Path, 0)
	if err != nil {
		return Value{}, fmt.Errorf("carbon_intensity_file: %w", err)
	}
	defer fd.Close()
	before, err := fd.Stat()
	if err != nil {
		return Value{}, fmt.Errorf("carbon_intensity_file %s: %w", f.Path, err)
	}
	if before.Size() > MaxBytes {
		return Value{}, fmt.Errorf("carbon_intensity_file %s: %d bytes, more than %d: keep only the latest rows", f.Path, before.Size(), MaxBytes)
	}
	b, err := io.ReadAll(io.LimitReader(fd, MaxBytes+1))
	if err != nil {
		return Value{}, fmt.Errorf("carbon_intensity_file %s: %w", f.Path, err)
	}
	n := len(b)
	after, err := fd.Stat()
	if err != nil {
		return Value{}, fmt.Errorf("carbon_intensity_file %s: %w", f.Path, err)
	}
	if after.Size() != int64(n) || !after.ModTime().Equal(before.ModTime()) {
		return Value{}, fmt.Errorf("carbon_intensity_file %s: changed while read: %w (write a temporary file and rename it over this one)", f.Path, errIncomplete)
	}
	v, err := Parse(b, now())
	if err != nil {
		return Value{}, fmt.Errorf("carbon_intensity_file %s: %w", f.Path, err)
	}
	if v.Time.IsZero() {
		v.Time = after.ModTime().UTC()
	}
	v.Source = f.SourceName()
	return v, nil
}
