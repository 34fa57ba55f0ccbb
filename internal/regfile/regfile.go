// Package regfile opens and reads small regular files without ever blocking
// on what may sit at their path instead: a FIFO (open and read would wait for
// a writer forever, deaf to SIGTERM), a device, a socket or a directory.
//
// Files are opened with O_NONBLOCK, then fstat'ed on the open descriptor (no
// race with a rename between a stat and the open) and refused unless they
// are regular files. O_NONBLOCK has no effect on reads of regular files, so
// the descriptor reads as usual. sysfs and procfs attribute files are regular
// files and are read the same way.
package regfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// ErrNotRegular is returned for a path that holds something other than a
// regular file (or a symlink, when NoFollow is asked).
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is returned by ReadFile for a file over its limit.
var ErrTooLarge = errors.New("file too large")

// Flags change how Open treats path.
type Flags int

// NoFollow refuses a symlink at path (ELOOP from O_NOFOLLOW is reported as
// ErrNotRegular, naming the symlink).
const NoFollow Flags = 1

// Open opens path read-only, without blocking, and returns it only when it
// is a regular file. The error names path and what was found there.
func Open(path string, flags Flags) (*os.File, error) {
	oflag := os.O_RDONLY | syscall.O_NONBLOCK | syscall.O_CLOEXEC
	if flags&NoFollow != 0 {
		oflag |= syscall.O_NOFOLLOW
	}
	f, err := os.OpenFile(path, oflag, 0)
	if err != nil {
		if flags&NoFollow != 0 && errors.Is(err, syscall.ELOOP) {
			return nil, fmt.Errorf("%s: %w: it is a symlink", path, ErrNotRegular)
		}
		return nil, err // *fs.PathError names the path
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: %w: it is a %s", path, ErrNotRegular, Kind(fi.Mode()))
	}
	return f, nil
}

// ReadFile reads the regular file at path, at most max bytes: a larger file
// is refused with ErrTooLarge, without reading it when the file system
// reports its size (at most max+1 bytes are read in any case: sysfs and
// procfs report 4096 or 0).
func ReadFile(path string, max int64, flags Flags) ([]byte, error) {
	f, err := Open(path, flags)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > max && fi.Size() > 4096 {
		return nil, fmt.Errorf("%s: %w: %d bytes, the limit is %d", path, ErrTooLarge, fi.Size(), max)
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: %w: more than %d bytes", path, ErrTooLarge, max)
	}
	return b, nil
}

// Kind names what a file mode is, for error messages.
func Kind(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "regular file"
	case m.IsDir():
		return "directory"
	case m&fs.ModeSymlink != 0:
		return "symlink"
	case m&fs.ModeNamedPipe != 0:
		return "FIFO"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	}
	return "special file (" + m.String() + ")"
}
