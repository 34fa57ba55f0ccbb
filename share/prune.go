package share

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// maxRemoveDepth bounds how deep removeTree descends: the layout is two
// levels deep, and anything far deeper was built by someone else (each
// level holds one descriptor while it is removed).
const maxRemoveDepth = 32

// fileID identifies a file and the mount it lives on.
type fileID struct {
	dev, ino uint64
	mnt      uint64 // mount id (statx STATX_MNT_ID); 0 when the kernel has none
	mode     uint32 // S_IFMT bits
}

// sameMount reports whether a and b live on the same mounted file system.
// The device alone misses a bind mount of a directory of the same file
// system, so the mount id is compared too where the kernel gives one.
func (a fileID) sameMount(b fileID) bool {
	return a.dev == b.dev && (a.mnt == 0 || b.mnt == 0 || a.mnt == b.mnt)
}

// statID is statx(2) without following a symbolic link or triggering an
// automount; an empty name with AT_EMPTY_PATH stats dirfd itself.
func statID(dirfd int, name string) (fileID, error) {
	flags := unix.AT_SYMLINK_NOFOLLOW | unix.AT_NO_AUTOMOUNT
	if name == "" {
		flags |= unix.AT_EMPTY_PATH
	}
	var st unix.Statx_t
	for {
		err := unix.Statx(dirfd, name, flags, unix.STATX_TYPE|unix.STATX_INO|unix.STATX_MNT_ID, &st)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fileID{}, err
		}
		break
	}
	id := fileID{
		dev:  unix.Mkdev(st.Dev_major, st.Dev_minor),
		ino:  st.Ino,
		mode: uint32(st.Mode) & unix.S_IFMT,
	}
	if st.Mask&unix.STATX_MNT_ID != 0 {
		id.mnt = st.Mnt_id
	}
	return id, nil
}

// removeTree removes name inside the directory open as dirfd, and
// everything below it, the way prune must: it never follows a symbolic
// link (links are unlinked themselves) and never crosses into another
// file system: a directory on another mount than root (a tmpfs or a bind
// mount inside a VM's directory) is left whole, with everything in it, and
// reported with ErrUnsafe naming it; the directories above it stay too.
// display is name's path, for errors. A missing name is not an error.
func removeTree(dirfd int, name, display string, root fileID, depth int) error {
	id, err := statID(dirfd, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return &fs.PathError{Op: "statx", Path: display, Err: err}
	}
	if !id.sameMount(root) {
		return fmt.Errorf("%s: %w: another file system is mounted there; not removing it or what it holds (unmount it)", display, ErrUnsafe)
	}
	if id.mode != unix.S_IFDIR {
		if err := unix.Unlinkat(dirfd, name, 0); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return &fs.PathError{Op: "unlink", Path: display, Err: err}
		}
		return nil
	}
	if depth >= maxRemoveDepth {
		return fmt.Errorf("%s: %w: more than %d directories deep; not removing it (remove it by hand)", display, ErrUnsafe, maxRemoveDepth)
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return &fs.PathError{Op: "open", Path: display, Err: err}
	}
	d := os.NewFile(uintptr(fd), display)
	defer d.Close()
	// The name may have been swapped (for a mount, say) since the statx.
	if now, err := statID(fd, ""); err != nil || now.ino != id.ino || !now.sameMount(id) {
		return fmt.Errorf("%s: %w: replaced while being removed", display, ErrUnsafe)
	}
	names, err := d.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("listing %s: %w", display, err)
	}
	var first error
	for _, n := range names {
		if err := removeTree(fd, n, filepath.Join(display, n), root, depth+1); err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return first // what was left keeps this directory
	}
	if err := unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return &fs.PathError{Op: "rmdir", Path: display, Err: err}
	}
	return nil
}
