package share

import (
	"errors"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The writer's hot path calls openat, write, close and renameat directly,
// on names kept NUL-terminated, so that a steady-state write allocates
// nothing and costs no fcntl or epoll_ctl (which an os.File per file
// would). Everything here retries EINTR.

// cname returns s NUL-terminated, for the *atZ calls.
func cname(s string) []byte {
	b := make([]byte, len(s)+1)
	copy(b, s)
	return b
}

// Names of the layout, NUL-terminated once.
var (
	cRecordFile   = cname(RecordFile)
	cEnergyFile   = cname(EnergyFile)
	cNameFile     = cname(NameFile)
	cMaxRangeFile = cname(MaxRangeFile)
)

// openatZ is openat(2) on a NUL-terminated name.
func openatZ(dirfd int, name []byte, flags int, mode uint32) (int, error) {
	for {
		r, _, e := syscall.Syscall6(syscall.SYS_OPENAT, uintptr(dirfd), uintptr(unsafe.Pointer(&name[0])),
			uintptr(flags), uintptr(mode), 0, 0)
		runtime.KeepAlive(name)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return -1, e
		}
		return int(r), nil
	}
}

// renameatZ renames from to to, both in dirfd, replacing to (renameat2
// with no flags is renameat, on every architecture; kernels before 3.15
// lack it and get renameat).
func renameatZ(dirfd int, from, to []byte) error {
	for {
		_, _, e := syscall.Syscall6(unix.SYS_RENAMEAT2, uintptr(dirfd), uintptr(unsafe.Pointer(&from[0])),
			uintptr(dirfd), uintptr(unsafe.Pointer(&to[0])), 0, 0)
		runtime.KeepAlive(from)
		runtime.KeepAlive(to)
		switch e {
		case 0:
			return nil
		case syscall.EINTR:
			continue
		case syscall.ENOSYS:
			return unix.Renameat(dirfd, string(from[:len(from)-1]), dirfd, string(to[:len(to)-1]))
		}
		return e
	}
}

// writeAll writes b to fd, whatever the short writes.
func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return syscall.EIO
		}
		b = b[n:]
	}
	return nil
}

// closeFD closes fd; EINTR from close(2) on Linux means the descriptor is
// closed already.
func closeFD(fd int) error {
	if err := unix.Close(fd); err != nil && err != unix.EINTR {
		return err
	}
	return nil
}

// lstatAt is fstatat(2) without following a symbolic link (nor triggering
// an automount).
func lstatAt(dirfd int, name string, st *unix.Stat_t) error {
	for {
		err := unix.Fstatat(dirfd, name, st, unix.AT_SYMLINK_NOFOLLOW|unix.AT_NO_AUTOMOUNT)
		if err != unix.EINTR {
			return err
		}
	}
}

func fstatFD(fd int, st *unix.Stat_t) error {
	for {
		err := unix.Fstat(fd, st)
		if err != unix.EINTR {
			return err
		}
	}
}

// openDirAt opens the directory name in dirfd, never following a
// symbolic link; the descriptor serves *at calls, fstat and fchmod.
func openDirAt(dirfd int, name string) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// fileStat is what the writer remembers of a file or directory it made.
type fileStat struct {
	dev, ino uint64
	mode     uint32
	size     int64
	mtime    unix.Timespec
}

func statOf(st *unix.Stat_t) fileStat {
	return fileStat{dev: st.Dev, ino: st.Ino, mode: st.Mode, size: st.Size, mtime: st.Mtim}
}

func (a fileStat) sameFile(b fileStat) bool { return a.dev == b.dev && a.ino == b.ino }

// treeChanged reports whether err, from the hot path, says the tree is
// no longer what the held descriptors saw (a directory removed, a name
// turned into a directory or a link): the write is then redone with the
// full check, which reopens or refuses.
func treeChanged(err error) bool {
	var e syscall.Errno
	if !errors.As(err, &e) {
		return false
	}
	switch e {
	case syscall.ENOENT, syscall.ENOTDIR, syscall.EISDIR, syscall.ELOOP, syscall.ESTALE, syscall.EEXIST, syscall.ENOTEMPTY:
		return true
	}
	return false
}

// Static files of a zone directory, in the order held in vmDirs.static.
const (
	staticName = iota
	staticMaxRange
	nStatic
)

// Zone directories held per VM, in the order of vmDirs.zone.
const (
	zonePackage = iota
	zoneDRAM
	nZones
)

// vmDirs is what a Writer holds for one VM directory across writes:
// descriptors of the VM directory and of its written zone directories
// (-1 when not open), the static files as written, and how many writes
// are left before the next full check.
type vmDirs struct {
	vm    int
	zone  [nZones]int
	chmod [1 + nZones]bool // files created there need an fchmod (umask, default ACL); [0] is the VM dir
	// held: the descriptor ([0] the VM dir, [1+zi] a zone) has a place in
	// the Writer's DirBudget and stays open across writes; one without is
	// closed when the write that opened it ends (release).
	held [1 + nZones]bool
	// swept: the inode of the directory removeStaleTemps last cleaned, so
	// that a directory opened for each write is cleaned once, as a held
	// one is.
	swept [1 + nZones]uint64
	cname []byte // the VM directory's name, NUL-terminated
	// static: the name and max_energy_range_uj files as written (ino 0:
	// to be written).
	static [nZones][nStatic]struct {
		st      fileStat
		content string
	}
	untilCheck int    // writes on the hot path left before the next full check
	dram       bool   // the last full check wrote the dram zone
	lastWrite  uint64 // Writer.writes at its last write
}

func newVMDirs(name string) *vmDirs {
	return &vmDirs{vm: -1, zone: [nZones]int{-1, -1}, cname: cname(name)}
}

// fd returns the descriptor slot k: 0 the VM directory, 1+zi a zone.
func (d *vmDirs) fd(k int) *int {
	if k == 0 {
		return &d.vm
	}
	return &d.zone[k-1]
}

// close releases every descriptor (and its place in b); the next write
// does a full check.
func (d *vmDirs) close(b *DirBudget) {
	for k := range d.held {
		d.drop(k, b)
	}
	d.untilCheck, d.dram = 0, false
}

// heldFDs is how many descriptors d holds with a place in the budget.
func (d *vmDirs) heldFDs() int {
	n := 0
	for k, h := range d.held {
		if h && *d.fd(k) >= 0 {
			n++
		}
	}
	return n
}

// release closes the descriptors opened for one write only (no place in
// the budget); held ones stay.
func (d *vmDirs) release() {
	for k := range d.held {
		if fd := d.fd(k); *fd >= 0 && !d.held[k] {
			closeFD(*fd)
			*fd = -1
		}
	}
}

// drop closes descriptor k, giving its place back to b.
func (d *vmDirs) drop(k int, b *DirBudget) {
	fd := d.fd(k)
	if *fd < 0 {
		return
	}
	closeFD(*fd)
	*fd = -1
	if d.held[k] {
		d.held[k] = false
		b.give()
	}
}

// openPathAt opens the directory name (NUL-terminated) in dirfd for one
// write: O_PATH (enough for the *at calls, and cheaper than a full open),
// never following a symbolic link.
func openPathAt(dirfd int, name []byte) (int, error) {
	return openatZ(dirfd, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
}

// outOfFDs reports whether err says the process (or the system) has no
// descriptor left.
func outOfFDs(err error) bool {
	var e syscall.Errno
	return errors.As(err, &e) && (e == syscall.EMFILE || e == syscall.ENFILE)
}
