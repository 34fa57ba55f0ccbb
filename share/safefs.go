package share

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"strconv"
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

// openDir opens the directory name inside parent as a Root of its own,
// creating it (mode 0755) when missing and create is set. It refuses, with
// ErrUnsafe, a name that is a symlink or not a directory, and a directory
// that was swapped between the check and the open. When create is set, a
// directory whose mode is not 0755 (a guest chmod'ed it) gets 0755 back.
// display is the path used in errors.
func openDir(parent *os.Root, name, display string, create bool) (*os.Root, error) {
	fi, err := parent.Lstat(name)
	created := false
	if errors.Is(err, fs.ErrNotExist) && create {
		if err = parent.Mkdir(name, dirPerm); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("creating %s: %w", display, err)
		}
		created = err == nil
		fi, err = parent.Lstat(name)
	}
	if err != nil {
		return nil, fmt.Errorf("share: %w", err)
	}
	if err := checkDir(fi, display); err != nil {
		return nil, err
	}
	sub, err := parent.OpenRoot(name)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", display, err)
	}
	st, err := sub.Stat(".")
	if err != nil {
		sub.Close()
		return nil, fmt.Errorf("share: %w", err)
	}
	if !os.SameFile(fi, st) {
		sub.Close()
		return nil, fmt.Errorf("%s: %w: replaced while being opened", display, ErrUnsafe)
	}
	if created || (create && fi.Mode().Perm() != dirPerm) {
		// Mkdir's mode went through the umask, or someone changed it; the
		// share must be readable by whoever serves it to the guest. "." is
		// the opened directory itself, so this cannot be redirected by a
		// swapped name.
		if err := sub.Chmod(".", dirPerm); err != nil {
			sub.Close()
			return nil, fmt.Errorf("chmod %s: %w", display, err)
		}
	}
	return sub, nil
}

// ensureDir makes sure name inside parent is a real directory of mode
// 0755, creating it when missing. An existing one costs a single Lstat.
func ensureDir(parent *os.Root, name, display string) error {
	fi, err := parent.Lstat(name)
	if err == nil {
		if err := checkDir(fi, display); err != nil || fi.Mode().Perm() == dirPerm {
			return err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("share: %w", err)
	}
	d, err := openDir(parent, name, display, true)
	if err != nil {
		return err
	}
	return d.Close()
}

// checkDir refuses anything but a real directory.
func checkDir(fi fs.FileInfo, display string) error {
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%s: %w: it is a symbolic link; refusing to follow it (remove it)", display, ErrUnsafe)
	case !fi.IsDir():
		return fmt.Errorf("%s: %w: expected a directory, found %s (remove it)", display, ErrUnsafe, kind(fi))
	}
	return nil
}

// checkTarget refuses to replace anything but a regular file (a missing
// target is fine).
func checkTarget(dir *os.Root, name, display string) (fs.FileInfo, error) {
	fi, err := dir.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("share: %w", err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return nil, fmt.Errorf("%s: %w: it is a symbolic link; refusing to replace it (remove it)", display, ErrUnsafe)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w: expected a regular file, found %s (remove it)", display, ErrUnsafe, kind(fi))
	}
	return fi, nil
}

// kind names a file's type for an error message.
func kind(fi fs.FileInfo) string {
	switch m := fi.Mode(); {
	case m.IsDir():
		return "a directory"
	case m.IsRegular():
		return "a regular file"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	default:
		return "a special file (" + m.Type().String() + ")"
	}
}

// writeFunc writes b to a freshly created temporary file; the test hook
// (Writer.write) replaces it to simulate a full disk.
type writeFunc func(f *os.File, b []byte) error

func plainWrite(f *os.File, b []byte) error {
	_, err := f.Write(b)
	return err
}

// writeAtomic replaces name inside dir with data: it writes a temporary
// file, created with O_EXCL in the same directory under a random name and
// given mode 0644 explicitly (whatever the umask), and renames it over
// name. rename(2) replaces the directory entry itself, so even a symlink
// planted after the check is replaced, never followed, and the file always
// has mode 0644 whatever was done to the one it replaces. The temporary
// file is removed on any error, leaving the old file intact.
//
// There is no fsync: see the Writer documentation.
func writeAtomic(dir *os.Root, name, display string, data []byte, write writeFunc) error {
	if _, err := checkTarget(dir, name, display); err != nil {
		return err
	}
	var (
		f   *os.File
		tmp string
		err error
	)
	for range 10 {
		tmp = tmpPrefix + name + "." + strconv.FormatUint(rand.Uint64(), 36)
		f, err = dir.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
		if !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("creating a temporary file for %s: %w", display, err)
	}
	// O_CREATE's mode went through the umask: set it explicitly.
	if err = f.Chmod(filePerm); err == nil {
		err = write(f, data)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = dir.Rename(tmp, name)
	}
	if err != nil {
		_ = dir.Remove(tmp)
		return fmt.Errorf("writing %s: %w", display, err)
	}
	return nil
}

// probeWrite creates and removes a file in dir, so that a share root the
// agent cannot write is reported at start, not at the first tick.
func probeWrite(dir *os.Root) error {
	name := tmpPrefix + "probe." + strconv.FormatUint(rand.Uint64(), 36)
	f, err := dir.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
	if err != nil {
		return fmt.Errorf("share root %s is not writable: %w", dir.Name(), err)
	}
	f.Close()
	if err := dir.Remove(name); err != nil {
		return fmt.Errorf("share root %s: removing a probe file: %w", dir.Name(), err)
	}
	return nil
}
