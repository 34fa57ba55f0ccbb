// Package follow reads a VM's share directory, as virtwatt-host writes it
// (a versioned record plus a powercap-compatible tree) or as a
// Scaphandre-style host writes it (the tree alone), and classifies every
// failure into a small set of reasons that the agent counts.
//
// A reader never invents a value: an observation either carries what was
// read and validated, or an error and its reason.
package follow

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"syscall"

	"github.com/virtwatt/virtwatt/share"
)

// Reasons a read of the share fails, the label values of
// virtwatt_share_read_errors_total{reason}.
const (
	ReasonMissing  = "missing"   // the share directory, or both record and tree, are absent
	ReasonTooLarge = "too_large" // a file is larger than share.MaxFileSize
	ReasonEmpty    = "empty"     // a file is empty (a torn write over a network file system)
	ReasonGarbled  = "garbled"   // a file does not parse or fails validation, is a symlink, FIFO or device, or holds values out of bounds
	ReasonSchema   = "schema"    // the record's schema version is older or newer than this build reads
	ReasonIO       = "io"        // any other error reading the share (permissions, I/O)
	ReasonStale    = "stale"     // the record was not updated for 3 of its own intervals (counted by account)
	ReasonSequence = "sequence"  // the record's sequence went backwards within its instance (counted by account)
	ReasonReset    = "reset"     // a counter went backwards within its instance (counted by account)
)

// Reasons lists every reason, so that exporters can show each at 0 from the start.
var Reasons = []string{
	ReasonMissing, ReasonTooLarge, ReasonEmpty, ReasonGarbled, ReasonSchema,
	ReasonIO, ReasonStale, ReasonSequence, ReasonReset,
}

// Observation is one read of the share directory.
type Observation struct {
	// Record is the validated record, nil when the share holds none (a
	// tree-only share) or when it could not be used (see Err).
	Record *share.Record
	// Tree holds the powercap counters when the share holds no record and
	// the tree was read; nil otherwise. A zone's max range is 0 when the
	// share does not give it (Scaphandre's exporter writes energy_uj alone):
	// unknown, and such a counter never wraps.
	Tree *share.Tree
	// Err says why nothing usable was read; Reason classifies it.
	Err    error
	Reason string
	// Problems lists what was dropped or cut from an accepted record (see
	// share.Record.Sanitize): zones with unknown names, overlong strings,
	// labels past the host's bounds. The accountant counts a read with
	// problems as garbled. The lines never quote the share.
	Problems []string
}

// OK reports whether the observation carries a record or a tree.
func (o Observation) OK() bool { return o.Err == nil && (o.Record != nil || o.Tree != nil) }

// Reader reads one share directory.
type Reader struct {
	Dir string
}

// Read reads the share once. The record wins when present: a record file
// that exists but cannot be used is an error, never a silent fall back to
// the tree (whose counters wrap and would need a different baseline).
//
// Every file is read beneath the share directory, never through a
// symbolic link, never from a FIFO or a device (see share.Dir.ReadFile):
// the share is written by a stranger. Errors name the file and the
// reason, never its content.
func (r Reader) Read() Observation {
	d, err := share.OpenDir(r.Dir)
	if errors.Is(err, syscall.ENOTDIR) {
		return Observation{
			Err:    fmt.Errorf("share dir %s is not a directory: point --share-dir at the mounted share", r.Dir),
			Reason: ReasonMissing,
		}
	}
	if err != nil {
		return fail(fmt.Errorf("share dir %s: %w", r.Dir, err))
	}
	defer d.Close()
	rec, err := d.ReadRecord()
	switch {
	case err == nil:
		return Observation{Record: rec, Problems: rec.Sanitize()}
	case !errors.Is(err, fs.ErrNotExist):
		return fail(fmt.Errorf("record %s: %w", filepath.Join(r.Dir, share.RecordFile), err))
	}
	tree, err := d.ReadTree()
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Observation{
				Err: fmt.Errorf("share dir %s holds neither %s nor %s/%s: is the host agent writing to it?",
					r.Dir, share.RecordFile, share.PackageZoneDir, share.EnergyFile),
				Reason: ReasonMissing,
			}
		}
		return fail(fmt.Errorf("powercap tree in %s: %w", r.Dir, err))
	}
	return Observation{Tree: &tree}
}

// fail classifies err into an Observation.
func fail(err error) Observation {
	return Observation{Err: err, Reason: Classify(err)}
}

// Classify maps an error from the share package (or the file system) to a
// reason.
func Classify(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, fs.ErrNotExist):
		return ReasonMissing
	case errors.Is(err, share.ErrTooLarge):
		return ReasonTooLarge
	case errors.Is(err, share.ErrEmpty):
		return ReasonEmpty
	case errors.Is(err, share.ErrSchema):
		return ReasonSchema
	case errors.Is(err, share.ErrGarbled), errors.Is(err, share.ErrUnsafe):
		return ReasonGarbled
	}
	return ReasonIO
}
