package share

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// Dir is a share directory opened for reading. A share is written by a
// stranger (the guest cannot trust its host's side, nor the host its
// guest's), so every file is read through Dir.ReadFile, which stays
// beneath the directory and never follows a symbolic link, at any depth.
type Dir struct {
	fd   int
	path string
}

// OpenDir opens the directory at path (the caller's own path, trusted: a
// symbolic link on the way to it is followed) for reading share files
// beneath it.
func OpenDir(path string) (*Dir, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return &Dir{fd: fd, path: path}, nil
}

// Close releases the directory.
func (d *Dir) Close() error {
	if d == nil || d.fd < 0 {
		return nil
	}
	err := unix.Close(d.fd)
	d.fd = -1
	return err
}

// display is the path of name beneath d, for messages.
func (d *Dir) display(name string) string { return filepath.Join(d.path, name) }

// ReadFile reads the regular file name (slash-separated, relative: no
// "..", no leading '/') beneath d, bounded by max bytes:
//   - a symbolic link, at any component, is refused with ErrUnsafe and
//     never followed (each directory is opened with O_NOFOLLOW relative to
//     the one before, which is what openat2's RESOLVE_BENEATH |
//     RESOLVE_NO_SYMLINKS does, on every kernel);
//   - anything but a regular file (a FIFO, a device, a socket, a
//     directory) is refused with ErrGarbled without being opened for
//     reading, so that it can neither block the reader nor trigger a
//     device's side effect; the file is then opened non-blocking and must
//     still be the regular file looked at;
//   - a file larger than max is refused with ErrTooLarge without being read
//     through (at most max+1 bytes are read whatever size is reported);
//   - an empty file (or one holding only white space) gives ErrEmpty.
//
// Errors name the file, never its content. A missing file gives an error
// that satisfies errors.Is(err, fs.ErrNotExist).
func (d *Dir) ReadFile(name string, max int64) ([]byte, error) {
	if max < 0 {
		max = 0
	}
	display := d.display(name)
	parts := strings.Split(name, "/")
	for _, p := range parts {
		if p == "" || p == "." || p == ".." {
			return nil, fmt.Errorf("%s: %w: not a plain relative name", display, ErrUnsafe)
		}
	}
	dirfd := d.fd
	for i, p := range parts[:len(parts)-1] {
		fd, err := unix.Openat(dirfd, p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if dirfd != d.fd {
			unix.Close(dirfd)
		}
		if err != nil {
			return nil, dirOpenError(display, d.display(strings.Join(parts[:i+1], "/")), err)
		}
		dirfd = fd
	}
	if dirfd != d.fd {
		defer unix.Close(dirfd)
	}
	last := parts[len(parts)-1]
	// A writer renaming a new file over the one looked at (every honest
	// write does) is retried; a file swapped on each try is refused.
	for try := 0; ; try++ {
		b, err := readRegular(dirfd, last, display, max)
		if errors.Is(err, errReplaced) && try < 3 {
			continue
		}
		return b, err
	}
}

// errReplaced: the file was replaced between the look and the open.
var errReplaced = fmt.Errorf("%w: replaced while being opened", ErrUnsafe)

// readRegular reads the regular file name in dirfd; see Dir.ReadFile.
func readRegular(dirfd int, name, display string, max int64) ([]byte, error) {
	// Look first, without opening for reading: O_PATH opens neither a FIFO
	// nor a device, and with O_NOFOLLOW it opens a symlink itself.
	pfd, err := unix.Openat(dirfd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, openError(display, err, false)
	}
	var looked unix.Stat_t
	err = unix.Fstat(pfd, &looked)
	unix.Close(pfd)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: display, Err: err}
	}
	if err := checkRegular(display, looked.Mode); err != nil {
		return nil, err
	}
	if looked.Size > max {
		return nil, fmt.Errorf("%s: %w: %d bytes, the limit is %d", display, ErrTooLarge, looked.Size, max)
	}

	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOFOLLOW|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, openError(display, err, false)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: display, Err: err}
	}
	if st.Dev != looked.Dev || st.Ino != looked.Ino {
		return nil, fmt.Errorf("%s: %w", display, errReplaced)
	}
	if err := checkRegular(display, st.Mode); err != nil {
		return nil, err
	}
	// Read one byte more than allowed, to see a file that grew (or whose
	// reported size lied) past the limit. Plain read(2) on the descriptor:
	// an os.File would ask the runtime's poller about a regular file on
	// every read.
	b, err := readUpTo(fd, st.Size, max+1)
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: display, Err: err}
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: %w: more than %d bytes", display, ErrTooLarge, max)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, fmt.Errorf("%s: %w", display, ErrEmpty)
	}
	return b, nil
}

// readUpTo reads fd to its end, or to limit bytes, into a buffer sized for
// the size reported (and grown if the file grew).
func readUpTo(fd int, size, limit int64) ([]byte, error) {
	b := make([]byte, 0, min(max(size+1, 512), limit))
	for int64(len(b)) < limit {
		if len(b) == cap(b) {
			b = slices.Grow(b, int(min(int64(cap(b)), limit-int64(cap(b)))))
		}
		n, err := unix.Read(fd, b[len(b):min(int64(cap(b)), limit)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n == 0 {
			break
		}
		b = b[:len(b)+n]
	}
	return b, nil
}

// checkRegular refuses anything but a regular file: a symbolic link with
// ErrUnsafe, the rest with ErrGarbled.
func checkRegular(display string, mode uint32) error {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return nil
	case unix.S_IFLNK:
		return fmt.Errorf("%s: %w: a symbolic link (a share's links are never followed)", display, ErrUnsafe)
	}
	return fmt.Errorf("%s: %w: not a regular file (%s)", display, ErrGarbled, fileKind(mode))
}

// openError wraps an openat error: ELOOP (O_NOFOLLOW met a symbolic link)
// and, for a directory, ENOTDIR become ErrUnsafe; the rest keep their
// errno (ENOENT satisfies fs.ErrNotExist).
func openError(display string, err error, dir bool) error {
	switch {
	case errors.Is(err, unix.ELOOP):
		return fmt.Errorf("%s: %w: a symbolic link (a share's links are never followed)", display, ErrUnsafe)
	case dir && errors.Is(err, unix.ENOTDIR):
		return fmt.Errorf("%s: %w: not a directory", display, ErrUnsafe)
	}
	return &fs.PathError{Op: "open", Path: display, Err: err}
}

// dirOpenError wraps the error opening dir on the way to file: a refusal
// names the directory, anything else (a missing one) the file.
func dirOpenError(file, dir string, err error) error {
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		return openError(dir, err, true)
	}
	return &fs.PathError{Op: "open", Path: file, Err: err}
}

// fileKind names a file type for messages.
func fileKind(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return "a regular file"
	case unix.S_IFLNK:
		return "a symbolic link"
	case unix.S_IFDIR:
		return "a directory"
	case unix.S_IFIFO:
		return "a FIFO"
	case unix.S_IFCHR:
		return "a character device"
	case unix.S_IFBLK:
		return "a block device"
	case unix.S_IFSOCK:
		return "a socket"
	}
	return fmt.Sprintf("file type %#o", mode&unix.S_IFMT)
}
