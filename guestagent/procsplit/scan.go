package procsplit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// Scanner reads every <proc-root>/[pid]/stat with as few system calls and
// allocations as a scan allows, since it runs for every process of the
// guest: the process directory is listed with getdents64 into a reused
// buffer (no name strings), each stat file costs exactly openat (relative
// to the open proc root, so no path is built from the root), one read and
// close (no os.File, so no epoll registration), and a process's command
// name string is reused from the previous scan while the process (pid and
// start time) and its name are unchanged.
//
// Each process's stat file is kept open from one scan to the next and
// read again with pread (a procfs file is generated anew at each read from
// offset 0), which costs a third of opening it by name again: the file
// stays the process's — when the process is gone it reads ESRCH, never
// another process under the same pid — and is closed when its pid leaves
// the listing or its entry's inode number changes (a new process under
// the pid). At most maxHeld files are kept (a quarter of the open-file
// limit, at most 4096; none on a tree that is not a procfs, as tests
// use); past that, files are opened by name each scan.
//
// Kernel threads (PF_KTHREAD in their flags) are not returned: their
// CPU time is kernel work, which the split then counts in [system] with
// interrupts and steal. A kernel thread's stat is read once; later scans
// skip its pid while the directory entry's inode number is the same, which
// it is for as long as that process lives (procfs gives a reused pid a new
// inode). In a small VM most entries of /proc are kernel threads (58 of 83
// here), so this removes most of a scan's reads. A Scanner is not safe for
// concurrent use.
type Scanner struct {
	root   string
	dirbuf []byte // getdents64 records
	buf    []byte // one stat file
	path   []byte // "<pid>/stat"

	// comm strings of the previous scan and of this one, by pid.
	comms, nextComms map[int]commEntry
	// kernel threads of the previous scan and of this one: pid → inode
	// number of its /proc entry.
	kthreads, nextKthreads map[int]uint64
	files                  *heldFiles
	maxHeld                int
}

// heldFiles are the stat files a Scanner keeps open, by pid: those of the
// previous scan not read again yet, and those of this one. They are apart
// from the Scanner so that a cleanup can close them once it is gone.
type heldFiles struct{ cur, next map[int]heldFile }

type heldFile struct {
	ino uint64 // of the process's /proc entry when opened
	fd  int
}

// settle closes the files of the previous scan not read again (processes
// gone) and makes this scan's the previous.
func (h *heldFiles) settle() {
	for _, f := range h.cur {
		unix.Close(f.fd)
	}
	clear(h.cur)
	h.cur, h.next = h.next, h.cur
}

func (h *heldFiles) closeAll() {
	h.settle()
	h.settle()
}

// maxHeldFiles is how many stat files a Scanner of procRoot keeps open: a
// quarter of the soft limit on open files, at most 4096, and none unless
// procRoot is a procfs (a file of another tree, replaced under the same
// inode number, would be read stale).
func maxHeldFiles(procRoot string) int {
	var fs unix.Statfs_t
	if err := unix.Statfs(procRoot, &fs); err != nil || fs.Type != unix.PROC_SUPER_MAGIC {
		return 0
	}
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	return int(min(lim.Cur/4, 4096))
}

type commEntry struct {
	start uint64
	comm  string
}

// statBufSize holds any stat line: 52 fields of at most 20 digits and a
// comm of at most 64 bytes is well under it. A longer one is read again
// with a larger buffer.
const statBufSize = 2048

// NewScanner returns a Scanner of procRoot (usually /proc).
func NewScanner(procRoot string) *Scanner {
	s := &Scanner{
		root:      procRoot,
		dirbuf:    make([]byte, 16<<10),
		buf:       make([]byte, statBufSize),
		path:      make([]byte, 0, 32),
		comms:     map[int]commEntry{},
		nextComms: map[int]commEntry{},

		kthreads:     map[int]uint64{},
		nextKthreads: map[int]uint64{},
		files:        &heldFiles{cur: map[int]heldFile{}, next: map[int]heldFile{}},
		maxHeld:      maxHeldFiles(procRoot),
	}
	runtime.AddCleanup(s, (*heldFiles).closeAll, s.files)
	return s
}

// Scan appends every process found to dst and returns it. Processes that
// vanish while being read are skipped; unparsable stat files are skipped and
// counted in skipped.
func (s *Scanner) Scan(dst []Proc) (procs []Proc, skipped int, err error) {
	dirfd, err := openDir(s.root)
	if err != nil {
		return dst, 0, fmt.Errorf("list processes: open %s: %w (is --proc-root a mounted procfs?)", s.root, err)
	}
	defer unix.Close(dirfd)
	defer s.files.settle()
	clear(s.nextComms)
	clear(s.nextKthreads)
	for {
		n, err := unix.Getdents(dirfd, s.dirbuf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return dst, skipped, fmt.Errorf("list processes in %s: %w", s.root, err)
		}
		if n <= 0 {
			break
		}
		for b := s.dirbuf[:n]; len(b) >= 19; {
			// struct linux_dirent64 { u64 ino; s64 off; u16 reclen; u8 type; char name[]; }
			ino := binary.NativeEndian.Uint64(b[0:8])
			reclen := int(binary.NativeEndian.Uint16(b[16:18]))
			if reclen < 19 || reclen > len(b) {
				return dst, skipped, fmt.Errorf("list processes in %s: malformed directory entry", s.root)
			}
			name := b[19:reclen]
			b = b[reclen:]
			pid, ok := pidName(name)
			if !ok {
				continue
			}
			if known, ok := s.kthreads[pid]; ok && known == ino && ino > 1 {
				s.nextKthreads[pid] = ino
				continue
			}
			p, err := s.readAt(dirfd, pid, ino)
			if err != nil {
				if !errors.Is(err, fs.ErrNotExist) && !isESRCH(err) {
					skipped++
				}
				continue
			}
			if p.Kernel {
				s.nextKthreads[pid] = ino
				if f, ok := s.files.next[pid]; ok {
					unix.Close(f.fd)
					delete(s.files.next, pid)
				}
				continue
			}
			dst = append(dst, p)
		}
	}
	s.comms, s.nextComms = s.nextComms, s.comms
	s.kthreads, s.nextKthreads = s.nextKthreads, s.kthreads
	return dst, skipped, nil
}

// readAt reads pid's stat file during a Scan, reusing last scan's comm
// and stat file (ino: of its /proc entry).
func (s *Scanner) readAt(dirfd, pid int, ino uint64) (Proc, error) {
	s.path = append(strconv.AppendInt(s.path[:0], int64(pid), 10), "/stat"...)
	b, err := s.readHeld(dirfd, pid, ino)
	if err != nil {
		return Proc{}, fmt.Errorf("read %s: %w", filepath.Join(s.root, string(s.path)), err)
	}
	p, comm, err := parseProcStatFields(b)
	if err != nil {
		return Proc{}, fmt.Errorf("parse %s: %w", filepath.Join(s.root, string(s.path)), err)
	}
	if e, ok := s.comms[p.PID]; ok && e.start == p.StartTime && e.comm == string(comm) {
		p.Comm = e.comm
	} else {
		p.Comm = validComm(comm)
	}
	if p.Comm == string(comm) {
		s.nextComms[p.PID] = commEntry{start: p.StartTime, comm: p.Comm}
	}
	return p, nil
}

// readHeld reads pid's stat file (at s.path beneath dirfd) through the
// file kept open since the last scan while its entry's inode number is
// still ino, else opened now and kept (ino 0: not kept).
func (s *Scanner) readHeld(dirfd, pid int, ino uint64) ([]byte, error) {
	if f, ok := s.files.cur[pid]; ok {
		delete(s.files.cur, pid)
		if f.ino == ino {
			if b, err := s.readFD(f.fd); err == nil {
				s.files.next[pid] = f
				return b, nil
			}
		}
		unix.Close(f.fd) // gone, or another process under the pid: by name
	}
	fd, err := openat(dirfd, string(s.path))
	if err != nil {
		return nil, err
	}
	b, err := s.readFD(fd)
	if err == nil && ino > 1 && len(s.files.next) < s.maxHeld {
		s.files.next[pid] = heldFile{ino: ino, fd: fd}
	} else {
		unix.Close(fd)
	}
	return b, err
}

// readFD reads the stat file fd whole, from its start, growing s.buf when
// it fills (a read of a procfs file returns all of it at once when the
// buffer is large enough).
func (s *Scanner) readFD(fd int) ([]byte, error) {
	for {
		n, err := unix.Pread(fd, s.buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n < len(s.buf) {
			return s.buf[:n], nil
		}
		if len(s.buf) >= 1<<20 {
			return nil, fmt.Errorf("larger than %d bytes", len(s.buf))
		}
		s.buf = make([]byte, 2*len(s.buf))
	}
}

func openDir(path string) (int, error) {
	for {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

func openat(dirfd int, path string) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// pidName parses a directory entry name that is a process id; anything else
// (self, sys, net, a name with a NUL-padded tail) is not.
func pidName(name []byte) (int, bool) {
	if i := indexNUL(name); i >= 0 {
		name = name[:i]
	}
	if len(name) == 0 || name[0] < '1' || name[0] > '9' {
		return 0, false
	}
	x, ok := parseUint(name)
	if !ok || x > 1<<31 {
		return 0, false
	}
	return int(x), true
}

func indexNUL(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}
