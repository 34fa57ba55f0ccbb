package share

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"strconv"

	"golang.org/x/sys/unix"
)

// ErrUnsafe is returned (wrapped, naming the path) when the writer finds
// something in a share directory that it will not write through or read:
// a symbolic link, a file where a directory is expected (or the reverse),
// a FIFO or device where a file is expected, or another file system
// mounted inside a directory it prunes. The writer neither follows nor
// deletes what it finds; the operator inspects it (a guest cannot plant
// anything in a share that is exported read-only, so finding one means
// something is wrong) and removes it, or lets prune remove the VM's
// directory.
var ErrUnsafe = errors.New("unsafe path in share")

const (
	dirPerm  = 0o755
	filePerm = 0o644
	// tmpPrefix starts every temporary file's name (hidden, and never a
	// name of the layout).
	tmpPrefix = ".virtwatt-tmp-"
)

// checkDirStat refuses anything but a real directory.
func checkDirStat(st *unix.Stat_t, display string) error {
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return nil
	case unix.S_IFLNK:
		return fmt.Errorf("%s: %w: it is a symbolic link; refusing to follow it (remove it)", display, ErrUnsafe)
	}
	return fmt.Errorf("%s: %w: expected a directory, found %s (remove it)", display, ErrUnsafe, fileKind(st.Mode))
}

// checkTargetAt refuses to replace anything but a regular file; a missing
// target is fine (found false).
func checkTargetAt(dirfd int, name, display string, st *unix.Stat_t) (found bool, err error) {
	err = lstatAt(dirfd, name, st)
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, &fs.PathError{Op: "lstat", Path: display, Err: err}
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		return true, nil
	case unix.S_IFLNK:
		return false, fmt.Errorf("%s: %w: it is a symbolic link; refusing to replace it (remove it)", display, ErrUnsafe)
	}
	return false, fmt.Errorf("%s: %w: expected a regular file, found %s (remove it)", display, ErrUnsafe, fileKind(st.Mode))
}

// writeFunc writes b to a freshly created temporary file; the test hook
// (Writer.write) replaces it to simulate a full disk.
type writeFunc func(fd int, b []byte) error

// newTempName returns a fresh temporary name, NUL-terminated.
func newTempName() []byte {
	return cname(tmpPrefix + strconv.FormatUint(rand.Uint64(), 36))
}

// replaceFile replaces name (NUL-terminated) inside dirfd with data: it
// writes the writer's temporary file, created with O_EXCL|O_NOFOLLOW in
// the same directory (a name planted there is never opened: the open
// fails and another name is drawn), and renames it over name. rename(2)
// replaces the directory entry itself, so a symlink planted at name is
// replaced, never followed. Files get mode 0644 whatever the umask or a
// default ACL: with measure set, the new file's mode is looked at and
// *chmod records whether files created in this directory need an
// fchmod; without it, *chmod is trusted. The temporary file is removed on
// any error, leaving the old file intact. There is no fsync: see the
// Writer documentation.
func (w *Writer) replaceFile(dirfd int, name, data []byte, chmod *bool, measure bool) error {
	var (
		fd  int
		err error
	)
	for range 10 {
		fd, err = openatZ(dirfd, w.tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, filePerm)
		if err != unix.EEXIST {
			break
		}
		// Left by a crash, or planted: never touched, another name drawn.
		w.tmp = redrawTempName(w.tmp)
	}
	if err != nil {
		return &fs.PathError{Op: "create temporary file", Path: string(w.tmp[:len(w.tmp)-1]), Err: err}
	}
	if measure {
		var st unix.Stat_t
		if err = fstatFD(fd, &st); err == nil {
			*chmod = st.Mode&0o7777 != filePerm
		}
	}
	if err == nil && *chmod {
		err = unix.Fchmod(fd, filePerm)
	}
	if err == nil {
		err = w.write(fd, data)
	}
	if cerr := closeFD(fd); err == nil {
		err = cerr
	}
	if err == nil {
		if err = renameatZ(dirfd, w.tmp, name); err == nil {
			return nil
		}
	}
	_ = unix.Unlinkat(dirfd, string(w.tmp[:len(w.tmp)-1]), 0)
	return err
}

// probeWrite creates and removes a file in dirfd, so that a share root
// the agent cannot write is reported at start, not at the first tick.
func probeWrite(dirfd int, display string) error {
	name := tmpPrefix + "probe." + strconv.FormatUint(rand.Uint64(), 36)
	fd, err := unix.Openat(dirfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, filePerm)
	if err != nil {
		return fmt.Errorf("share root %s is not writable: %w", display, &fs.PathError{Op: "create", Path: name, Err: err})
	}
	closeFD(fd)
	if err := unix.Unlinkat(dirfd, name, 0); err != nil {
		return fmt.Errorf("share root %s: removing a probe file: %w", display, err)
	}
	return nil
}
