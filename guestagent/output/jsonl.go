package output

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/virtwatt/virtwatt/guestagent/measure"
)

// JSONL appends one JSON object (a Record) per Sample to a file, one line
// each, written with a single write(2) on a file opened for appending. The
// file is reopened for every line, so that it can be rotated (logrotate's
// create mode) while the agent runs.
type JSONL struct {
	path string
	mu   sync.Mutex
	buf  []byte
}

// NewJSONL returns a JSONL sink for path (--jsonl FILE); it only checks
// that the file's directory exists.
func NewJSONL(path string) (*JSONL, error) {
	if path == "" {
		return nil, errors.New("jsonl: no file given (--jsonl FILE)")
	}
	if fi, err := os.Stat(filepath.Dir(path)); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("jsonl: directory of %s: not a directory or %v (create it, or fix --jsonl)", path, err)
	}
	return &JSONL{path: path}, nil
}

// Emit appends s as one line.
func (j *JSONL) Emit(_ context.Context, s measure.Sample) error {
	b, err := json.Marshal(NewRecord(s))
	if err != nil {
		return fmt.Errorf("jsonl: encode sample: %w", err)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.buf = append(append(j.buf[:0], b...), '\n')
	f, err := os.OpenFile(j.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("jsonl: open %s: %w", j.path, err)
	}
	_, werr := f.Write(j.buf)
	cerr := f.Close()
	if werr != nil {
		return fmt.Errorf("jsonl: append to %s: %w", j.path, werr)
	}
	if cerr != nil {
		return fmt.Errorf("jsonl: close %s: %w", j.path, cerr)
	}
	return nil
}

// Close has nothing to flush: every line is written by Emit.
func (j *JSONL) Close() error { return nil }

// Name names the sink in logs and metrics.
func (j *JSONL) Name() string { return "jsonl" }
