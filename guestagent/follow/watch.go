package follow

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/virtwatt/virtwatt/share"
)

// Watcher pokes the agent to poll the share at once when something it can
// see changes: the share directory being created, replaced or renamed in
// its parent, or the record or a zone directory written in a local
// directory. inotify does not see writes made on the host side of 9p or
// virtiofs, so a Watcher only shortens the wait; the agent polls
// regardless.
//
// It asks inotify for only the events that mean new data, so that a
// host's write wakes the guest once: in the share directory, a name
// renamed in (every write of virtwatt-host ends so: a temporary file
// renamed over the record) and the directory itself going away; in its
// parent, the share directory's name coming or going. The temporary
// file's creation, writes and close raise no event, and neither does a
// file written in place (not virtwatt-host's way: a reader could see it
// half written), which the timed poll finds, as on virtiofs. One
// goroutine reads the events (parked in the runtime's poller, not
// holding a thread) and pokes.
type Watcher struct {
	dir, parent, base string
	logger            *slog.Logger
	fd                int      // the inotify descriptor, for adding watches
	f                 *os.File // fd, read through the runtime's poller (never f.Fd(): it would make reads block a thread)
	poke              chan struct{}
	done              chan struct{}

	mu              sync.Mutex
	dirWD, parentWD int // -1: not watched
	// dirDev, dirIno: what the share directory's name was when dirWD was
	// added; refreshes counts Refresh calls, for the recheck.
	dirDev, dirIno uint64
	refreshes      uint64
	closed         bool
	events         uint64 // events read, for tests
}

// Masks of the two watches.
const (
	dirMask    = unix.IN_MOVED_TO | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_ONLYDIR
	parentMask = unix.IN_CREATE | unix.IN_MOVED_TO | unix.IN_MOVED_FROM | unix.IN_DELETE | unix.IN_ONLYDIR
)

// NewWatcher watches dir and its parent, whichever exist now; Refresh adds
// the others as they appear.
func NewWatcher(dir string, logger *slog.Logger) (*Watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, &fs.PathError{Op: "inotify_init1", Path: dir, Err: err}
	}
	dir = filepath.Clean(dir)
	w := &Watcher{
		dir:      dir,
		parent:   filepath.Dir(dir),
		base:     filepath.Base(dir),
		logger:   logger,
		fd:       fd,
		f:        os.NewFile(uintptr(fd), "inotify"), // non-blocking: reads park in the poller
		poke:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		dirWD:    -1,
		parentWD: -1,
	}
	w.Refresh()
	go w.loop()
	return w, nil
}

// C delivers a value when the share should be polled now. Pokes coalesce.
func (w *Watcher) C() <-chan struct{} { return w.poke }

// Refresh watches dir and its parent if they exist and are not watched
// yet. It is meant to be called on every poll; while both are watched it
// makes no system call but, every recheckEvery-th call, a stat of dir: a
// file system mounted on dir's name or unmounted from it (a virtiofs or
// 9p share mounted again) raises no event, and the watch would stay on
// what the name was.
func (w *Watcher) Refresh() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	if w.parentWD >= 0 && w.dirWD >= 0 {
		w.refreshes++
		if w.refreshes%recheckEvery != 0 || w.sameDir() {
			return
		}
		_, _ = unix.InotifyRmWatch(w.fd, uint32(w.dirWD))
		w.dirWD = -1
	}
	w.add(&w.parentWD, w.parent, parentMask)
	w.addDir()
}

// recheckEvery is how many Refresh calls apart the share directory's
// name is looked at again.
const recheckEvery = 10

// sameDir reports whether dir's name is still what was watched.
func (w *Watcher) sameDir() bool {
	var st unix.Stat_t
	return unix.Stat(w.dir, &st) == nil && st.Dev == w.dirDev && st.Ino == w.dirIno
}

// addDir watches dir unless it is watched, remembering what it was (the
// stat before the watch: a directory swapped in between is seen at the
// next recheck).
func (w *Watcher) addDir() {
	if w.dirWD >= 0 {
		return
	}
	var st unix.Stat_t
	if unix.Stat(w.dir, &st) != nil {
		return // not there (yet): the next Refresh tries again
	}
	w.add(&w.dirWD, w.dir, dirMask)
	w.dirDev, w.dirIno = st.Dev, st.Ino
}

// add watches path with mask unless *wd says it is watched.
func (w *Watcher) add(wd *int, path string, mask uint32) {
	if *wd >= 0 {
		return
	}
	n, err := unix.InotifyAddWatch(w.fd, path, mask)
	if err != nil {
		return // not there (yet): the next Refresh tries again
	}
	*wd = n
	w.logger.Debug("watching for changes", "path", path)
}

// rewatch drops both watches and adds them again, on what the names are
// now (w.mu held).
func (w *Watcher) rewatch() {
	if w.closed {
		return
	}
	for _, wd := range []*int{&w.parentWD, &w.dirWD} {
		if *wd >= 0 {
			_, _ = unix.InotifyRmWatch(w.fd, uint32(*wd))
			*wd = -1
		}
	}
	w.add(&w.parentWD, w.parent, parentMask)
	w.addDir()
}

// Close stops watching.
func (w *Watcher) Close() error {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	err := w.f.Close()
	<-w.done
	return err
}

func (w *Watcher) loop() {
	defer close(w.done)
	buf := make([]byte, 16*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				w.logger.Debug("inotify read failed: polling only", "err", err)
			}
			return
		}
		if w.handle(buf[:n]) {
			select {
			case w.poke <- struct{}{}:
			default:
			}
		}
	}
}

// pokes reports whether a change to this entry of the share directory
// means new data: the record, or a zone directory of the tree (the
// counters inside are not watched). A host writes each file to a
// temporary name and renames it over the old one, so of a write's events
// only the rename's names the record.
func pokes(base string) bool {
	return base == share.RecordFile || strings.HasPrefix(base, "intel-rapl")
}

// handle reads a batch of events and reports whether one means the share
// should be polled.
func (w *Watcher) handle(b []byte) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	poke := false
	for len(b) >= unix.SizeofInotifyEvent {
		// struct inotify_event: wd, mask, cookie, len, then len bytes of
		// name, NUL-padded.
		wd := int(int32(binary.NativeEndian.Uint32(b[0:])))
		mask := binary.NativeEndian.Uint32(b[4:])
		end := unix.SizeofInotifyEvent + int(binary.NativeEndian.Uint32(b[12:]))
		if end > len(b) {
			break
		}
		name := b[unix.SizeofInotifyEvent:end]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		b = b[end:]
		w.events++
		switch {
		case mask&unix.IN_Q_OVERFLOW != 0:
			// Events were lost, the share directory's going or coming
			// among them maybe: watch both names afresh, and look.
			w.rewatch()
			poke = true
		case wd == w.dirWD && mask&(unix.IN_DELETE_SELF|unix.IN_MOVE_SELF|unix.IN_IGNORED) != 0:
			// The directory went away or was renamed (the watch would
			// follow it): watch the name again when it is back.
			if mask&unix.IN_IGNORED == 0 && !w.closed {
				_, _ = unix.InotifyRmWatch(w.fd, uint32(wd)) // never once Close may have closed w.fd
			}
			w.dirWD = -1
			poke = true
		case wd == w.parentWD && mask&unix.IN_IGNORED != 0:
			w.parentWD = -1
		case wd == w.dirWD:
			poke = poke || pokes(string(name))
		case wd == w.parentWD && string(name) == w.base:
			poke = true
			if mask&(unix.IN_CREATE|unix.IN_MOVED_TO) != 0 && !w.closed {
				w.addDir()
			}
		}
	}
	return poke
}
