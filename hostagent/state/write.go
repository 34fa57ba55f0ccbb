package state

import (
	"errors"
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// WriteFile replaces path with b, an encoded state, atomically: b goes to
// a temp file beside it (".<name>.tmp", created exclusively, never
// through a link: a leftover from a crash, or anything planted there, is
// removed first), which is fsynced, closed and renamed over path. After a
// crash or a power loss path holds either the previous state or this one,
// never a mix; a symlink at path is replaced by the file, never followed.
// Five system calls, the least a durable atomic replace takes: the agent
// saves its state each tick.
func WriteFile(path string, b []byte) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := writeTemp(tmp, b); err != nil {
		return fmt.Errorf("state file %s: %w (is the disk full or the directory missing?)", path, err)
	}
	if err := unix.Rename(tmp, path); err != nil {
		_ = unix.Unlink(tmp)
		return fmt.Errorf("state file %s: renaming %s over it: %w", path, tmp, err)
	}
	return nil
}

// writeTemp writes b to a new file tmp, fsynced.
func writeTemp(tmp string, b []byte) error {
	const flags = unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, err := unix.Open(tmp, flags, 0o600)
	if errors.Is(err, unix.EEXIST) {
		// A temp file left by a crash (or anything put there): unlink
		// removes the name itself, a link included, never its target.
		if err := unix.Unlink(tmp); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("removing the leftover %s: %w", tmp, err)
		}
		fd, err = unix.Open(tmp, flags, 0o600)
	}
	if err != nil {
		return fmt.Errorf("creating %s: %w", tmp, err)
	}
	err = writeAll(fd, b)
	if err == nil {
		err = unix.Fsync(fd)
	}
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err != nil {
		_ = unix.Unlink(tmp)
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	return nil
}

func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return errors.New("short write")
		}
		b = b[n:]
	}
	return nil
}
