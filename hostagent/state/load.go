package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/virtwatt/virtwatt/internal/regfile"
)

// maxSize bounds what Load reads: a state file for thousands of VMs is a
// few MB at most.
const maxSize = 256 << 20

// maxDepth bounds the nesting of the file: the format nests 5 deep.
const maxDepth = 16

// Fix is what every refusal tells the operator to do.
const Fix = "move the file aside to start fresh (every counter restarts at 0 and each domain gets a new instance), or restore a backup"

// Load reads path.
//
//   - A missing file is a fresh start: an empty state and no error.
//   - Anything else at path that is not a regular file (a directory, a FIFO,
//     a device, a socket) is refused without blocking: the file is opened
//     non-blocking and checked on the open descriptor. A symlink is refused
//     too: each save replaces the link itself with a file (rename), so the
//     file it points to would silently stop being updated; point
//     state_file at the real path instead.
//   - The content must be exactly one JSON object (nothing but white space
//     after it) whose every number is an integer in [0, 2^64), no key given
//     twice, and it must pass Validate.
//
// Unknown fields are ignored, so that a build reads a file written by a
// newer build of the same Version (the version, not the field list, marks
// incompatible changes). Every refusal is an error naming the file, the
// field (a JSON path such as vms["<uuid>"].instance) and the fix.
func Load(path string) (*State, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return New(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("state file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, notRegular(path, regfile.Kind(fi.Mode()))
	}
	b, err := regfile.ReadFile(path, maxSize, regfile.NoFollow)
	switch {
	case errors.Is(err, regfile.ErrNotRegular): // replaced since the Lstat
		return nil, notRegular(path, "not a regular file")
	case err != nil:
		return nil, fmt.Errorf("state file %s: %w", path, err)
	}
	st, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("state file %s: %w; %s", path, err, Fix)
	}
	return st, nil
}

func notRegular(path, what string) error {
	return fmt.Errorf("state file %s is a %s, not a regular file: state_file must name a regular file "+
		"(or nothing, for a fresh start) and never a symlink; move it away or point state_file elsewhere", path, what)
}

// Parse decodes and validates a state file's content (see Load). Its
// errors name the field at fault but not the file.
func Parse(b []byte) (*State, error) {
	sc := scanner{dec: json.NewDecoder(bytes.NewReader(b))}
	sc.dec.UseNumber()
	if err := sc.document(); err != nil {
		return nil, err
	}
	st := &State{}
	if err := json.Unmarshal(b, st); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, &FieldError{Path: sc.pathAt(te.Offset), Problem: fmt.Sprintf("is a JSON %s, want %s", te.Value, goType(te.Type.String()))}
		}
		return nil, fmt.Errorf("unreadable: %w", err)
	}
	st.fillMaps()
	st.bookOldProvenance() // provenance.go
	if err := st.Validate(); err != nil {
		return nil, err
	}
	return st, nil
}

// fillMaps replaces absent top-level maps with empty ones: files from
// before a map was added lack it, and an absent map is an empty one.
func (s *State) fillMaps() {
	if s.HostEnergyUJ == nil {
		s.HostEnergyUJ = map[string]uint64{}
	}
	if s.UnattributedUJ == nil {
		s.UnattributedUJ = map[string]uint64{}
	}
	if s.ForgottenUJ == nil {
		s.ForgottenUJ = map[string]uint64{}
	}
	if s.VMs == nil {
		s.VMs = map[string]*VM{}
	}
	if s.Dirs == nil {
		s.Dirs = map[string]time.Time{}
	}
}

func goType(t string) string {
	switch t {
	case "uint64", "int":
		return "a number"
	case "string":
		return "a string"
	case "time.Time":
		return "an RFC 3339 time string"
	}
	if strings.HasPrefix(t, "map[") || strings.HasPrefix(t, "state.") || strings.HasPrefix(t, "share.") {
		return "an object"
	}
	if strings.HasPrefix(t, "[") {
		return "an array"
	}
	return t
}

// FieldError is a value of the file that cannot be accepted.
type FieldError struct {
	Path    string // JSON path, e.g. vms["<uuid>"].zones["package"].usage_uj
	Problem string
}

func (e *FieldError) Error() string {
	if e.Path == "" {
		return "the document " + e.Problem
	}
	return e.Path + " " + e.Problem
}

// mapFields are the fields whose objects are maps: their keys are data
// (written ["key"] in paths), not field names.
var mapFields = map[string]bool{
	"host_energy_uj": true, "unattributed_uj": true, "forgotten_uj": true, "vms": true, "dirs": true,
	"zones": true, "labels": true, "instance_base": true, "domains": true,
}

// timeFields are the fields holding times, checked here so that a bad one
// is named (time.Time's own error does not say where it was).
var timeFields = map[string]bool{"saved_at": true, "last_seen": true, "time": true}

// scanner walks the document token by token, before it is decoded: it
// checks what the decoder would let through (trailing data, numbers out of
// range, duplicate keys, nesting) and records where each value starts, so
// that a decoding error at an offset can be named by its path.
type scanner struct {
	dec   *json.Decoder
	paths []pathAt
}

type pathAt struct {
	off  int64
	path string
}

func (s *scanner) document() error {
	tok, err := s.dec.Token()
	if err == io.EOF {
		return &FieldError{Problem: "is empty, want a JSON object"}
	}
	if err != nil {
		return fmt.Errorf("unreadable: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return &FieldError{Problem: fmt.Sprintf("is %s, want a JSON object", describe(tok))}
	}
	if err := s.object("", false, 1); err != nil {
		return err
	}
	if tok, err := s.dec.Token(); err != io.EOF {
		if err != nil {
			return &FieldError{Problem: fmt.Sprintf("has trailing data after its object at byte %d: %v", s.dec.InputOffset(), err)}
		}
		return &FieldError{Problem: fmt.Sprintf("has trailing data after its object: %s", describe(tok))}
	}
	return nil
}

// object reads the members of an object whose '{' was read. isMap says its
// keys are data.
func (s *scanner) object(path string, isMap bool, depth int) error {
	seen := map[string]bool{}
	for s.dec.More() {
		tok, err := s.dec.Token()
		if err != nil {
			return fmt.Errorf("unreadable after %s: %w", orDocument(path), err)
		}
		key := tok.(string) // the decoder allows only strings as keys
		fold := key
		child := path + "[" + strconv.Quote(key) + "]"
		if !isMap {
			// Field names match case-insensitively when decoding.
			fold = strings.ToLower(key)
			child = key
			if path != "" {
				child = path + "." + key
			}
		}
		if seen[fold] {
			return &FieldError{Path: child, Problem: "is given twice"}
		}
		seen[fold] = true
		if err := s.value(child, !isMap && mapFields[fold], !isMap && timeFields[fold] || isMap && path == "dirs", depth); err != nil {
			return err
		}
	}
	_, err := s.dec.Token() // '}'
	return err
}

func (s *scanner) value(path string, isMap, isTime bool, depth int) error {
	s.paths = append(s.paths, pathAt{s.dec.InputOffset(), path})
	tok, err := s.dec.Token()
	if err != nil {
		return fmt.Errorf("unreadable at %s: %w", path, err)
	}
	if _, ok := tok.(string); isTime && !ok && tok != nil {
		return &FieldError{Path: path, Problem: fmt.Sprintf("is %s, want an RFC 3339 time string", describe(tok))}
	}
	switch v := tok.(type) {
	case json.Delim:
		if depth >= maxDepth {
			return &FieldError{Path: path, Problem: fmt.Sprintf("nests deeper than %d levels", maxDepth)}
		}
		if v == '{' {
			return s.object(path, isMap, depth+1)
		}
		for i := 0; s.dec.More(); i++ {
			if err := s.value(fmt.Sprintf("%s[%d]", path, i), false, false, depth+1); err != nil {
				return err
			}
		}
		_, err := s.dec.Token() // ']'
		return err
	case json.Number:
		return checkNumber(path, v.String())
	case string:
		if isTime {
			if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
				return &FieldError{Path: path, Problem: fmt.Sprintf("is %q, not an RFC 3339 time", v)}
			}
		}
	}
	return nil
}

// checkNumber accepts what every number of the format is: an integer in
// [0, 2^64).
func checkNumber(path, n string) error {
	if _, err := strconv.ParseUint(n, 10, 64); err == nil {
		return nil
	}
	switch {
	case strings.HasPrefix(n, "-"):
		return &FieldError{Path: path, Problem: fmt.Sprintf("is negative (%s); every number in the file is a count, 0 or more", n)}
	case strings.ContainsAny(n, ".eE"):
		return &FieldError{Path: path, Problem: fmt.Sprintf("is %s, not an integer", n)}
	}
	return &FieldError{Path: path, Problem: fmt.Sprintf("is %s, above 2^64-1", n)}
}

// pathAt names the value in which the decoder stopped at off: the last one
// that began before it.
func (s *scanner) pathAt(off int64) string {
	i := sort.Search(len(s.paths), func(i int) bool { return s.paths[i].off >= off })
	if i == 0 {
		return ""
	}
	return s.paths[i-1].path
}

func describe(tok json.Token) string {
	switch v := tok.(type) {
	case nil:
		return "null"
	case json.Delim:
		if v == '[' {
			return "an array"
		}
		if v == '{' {
			return "an object"
		}
		return strconv.Quote(v.String())
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	}
	return fmt.Sprintf("%v", tok)
}

func orDocument(path string) string {
	if path == "" {
		return "the top-level object"
	}
	return path
}
