package follow

import (
	"encoding/binary"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/virtwatt/virtwatt/share"
)

// TestWatcherSeesShareAppear checks the poke when the share directory is
// created after the watcher started, and then when the record is written
// in it, as a host writes it (a temporary file renamed over it).
func TestWatcherSeesShareAppear(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "share")
	w, err := NewWatcher(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	waitPoke(t, w)
	w.Refresh()
	drain(w)
	tmp := filepath.Join(dir, ".virtwatt-tmp-1")
	if err := os.WriteFile(tmp, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "virtwatt.json")); err != nil {
		t.Fatal(err)
	}
	waitPoke(t, w)
}

func waitPoke(t *testing.T, w *Watcher) {
	t.Helper()
	select {
	case <-w.C():
	case <-time.After(10 * time.Second):
		t.Fatal("no poke within 10s")
	}
}

func drain(w *Watcher) {
	for {
		select {
		case <-w.C():
		case <-time.After(50 * time.Millisecond):
			return
		}
	}
}

// A host's write (a temporary file, then a rename over the record) pokes
// once, on the rename; the temporary file's own events do not wake the
// agent.
func TestWatcherIgnoresTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	w, err := NewWatcher(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	drain(w)
	tmp := filepath.Join(dir, ".virtwatt.json.tmp-1")
	if err := os.WriteFile(tmp, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.C():
		t.Fatal("a temporary file poked the agent")
	case <-time.After(300 * time.Millisecond):
	}
	if err := os.Rename(tmp, filepath.Join(dir, "virtwatt.json")); err != nil {
		t.Fatal(err)
	}
	waitPoke(t, w)
}

// TestWatcherOneEventPerHostWrite: once a VM's share exists, each write
// of share.Writer (the record and the tree's counters) raises one event
// in the share directory — the rename over the record — and one poke, so
// that a local share wakes the guest once per update.
func TestWatcherOneEventPerHostWrite(t *testing.T) {
	root := t.TempDir()
	sw, err := share.NewWriter(root)
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	rec := &share.Record{
		Schema: share.SchemaVersion, Host: "hv1", Domain: "vm1", UUID: "u", Instance: "i",
		Sequence: 1, Timestamp: time.Now().UTC(), IntervalSeconds: 1,
		Zones: map[string]share.ZoneEnergy{share.ZonePackage: {UsageUJ: 1}, share.ZoneDRAM: {UsageUJ: 1}},
	}
	if err := sw.Write("vm1", rec, true); err != nil {
		t.Fatal(err)
	}
	w, err := NewWatcher(filepath.Join(root, "vm1"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	drain(w)
	const writes = 5
	for i := range writes {
		rec.Sequence++
		rec.Zones[share.ZonePackage] = share.ZoneEnergy{UsageUJ: uint64(i + 2)}
		if err := sw.Write("vm1", rec, true); err != nil {
			t.Fatal(err)
		}
		waitPoke(t, w)
	}
	drain(w)
	w.mu.Lock()
	events := w.events
	w.mu.Unlock()
	if events != writes {
		t.Errorf("%d writes raised %d inotify events, want %d (one rename each)", writes, events, writes)
	}
}

// inotifyEvent is one struct inotify_event with no name.
func inotifyEvent(wd int32, mask uint32) []byte {
	b := make([]byte, unix.SizeofInotifyEvent)
	binary.NativeEndian.PutUint32(b[0:], uint32(wd))
	binary.NativeEndian.PutUint32(b[4:], mask)
	return b
}

// unstartedWatcher is NewWatcher without the goroutine reading events,
// so that a test reads them (or loses them) itself.
func unstartedWatcher(t *testing.T, dir string) *Watcher {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	w := &Watcher{dir: dir, parent: filepath.Dir(dir), base: filepath.Base(dir), logger: slog.New(slog.DiscardHandler),
		fd: fd, f: os.NewFile(uintptr(fd), "inotify"), poke: make(chan struct{}, 1), done: make(chan struct{}), dirWD: -1, parentWD: -1}
	t.Cleanup(func() { w.f.Close() })
	w.Refresh()
	if w.dirWD < 0 || w.parentWD < 0 {
		t.Fatalf("not watching %s and its parent", dir)
	}
	return w
}

// TestWatcherOverflowWatchesAgain: when the queue overflows, the events
// lost may be the share directory's replacement (renamed away, a new one
// made): after IN_Q_OVERFLOW the watcher watches the directory now at the
// name, so the next rename over the record there is seen.
func TestWatcherOverflowWatchesAgain(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "share")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	w := unstartedWatcher(t, dir)
	if err := os.Rename(dir, dir+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The events of the replacement are taken as lost: only the overflow
	// is handled.
	if !w.handle(inotifyEvent(-1, unix.IN_Q_OVERFLOW)) {
		t.Fatal("an overflow did not poke")
	}
	if err := os.WriteFile(filepath.Join(dir, ".tmp"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, ".tmp"), filepath.Join(dir, share.RecordFile)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	n, err := unix.Read(w.fd, buf)
	if err != nil {
		t.Fatal(err)
	}
	for b := buf[:n]; len(b) >= unix.SizeofInotifyEvent; {
		wd := int(int32(binary.NativeEndian.Uint32(b)))
		end := unix.SizeofInotifyEvent + int(binary.NativeEndian.Uint32(b[12:]))
		name := strings.TrimRight(string(b[unix.SizeofInotifyEvent:end]), "\x00")
		b = b[end:]
		if wd == w.dirWD && name == share.RecordFile {
			return
		}
	}
	t.Errorf("after the overflow, the record renamed in the new %s raised no event of its watch (%d)", dir, w.dirWD)
}

// TestWatcherClosedRemovesNoWatch: events read just before Close are
// handled after it without touching the closed descriptor's number,
// which another inotify instance of the process may hold by then.
func TestWatcherClosedRemovesNoWatch(t *testing.T) {
	dir := t.TempDir()
	w, err := NewWatcher(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	fd, dirWD := w.fd, w.dirWD
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	other, err := unix.InotifyInit1(unix.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	if other != fd { // put it at the number w had, free since Close
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != unix.EBADF {
			t.Fatalf("descriptor %d is open again after Close (%v)", fd, err)
		}
		if err := unix.Dup3(other, fd, unix.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		unix.Close(other)
	}
	defer unix.Close(fd)
	for wd := 0; wd < dirWD; { // the other instance's watches, up to w's number
		if wd, err = unix.InotifyAddWatch(fd, t.TempDir(), unix.IN_CREATE); err != nil {
			t.Fatal(err)
		}
	}
	w.handle(inotifyEvent(int32(dirWD), unix.IN_DELETE_SELF))
	if _, err := unix.InotifyRmWatch(fd, uint32(dirWD)); err != nil {
		t.Errorf("the closed watcher removed watch %d of the instance now at its descriptor %d: %v", dirWD, fd, err)
	}
}

// TestWatcherFollowsRemount: a file system mounted again on the share
// directory (a virtiofs or 9p share remounted) raises no event; within
// recheckEvery polls the watcher watches the new mount, and a record
// renamed in there pokes. Needs root, to mount a tmpfs.
func TestWatcherFollowsRemount(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting needs root")
	}
	dir := filepath.Join(t.TempDir(), "share")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	mount := func() {
		t.Helper()
		if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
			t.Fatalf("mount tmpfs on %s: %v", dir, err)
		}
	}
	mount()
	w, err := NewWatcher(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := unix.Unmount(dir, 0); err != nil {
		t.Fatal(err)
	}
	waitPoke(t, w) // the watch is gone with the file system
	w.Refresh()    // the agent's poll: now on the directory beneath
	mount()
	defer unix.Unmount(dir, 0)
	drain(w)
	for range recheckEvery {
		w.Refresh()
	}
	if err := os.WriteFile(filepath.Join(dir, ".tmp"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, ".tmp"), filepath.Join(dir, share.RecordFile)); err != nil {
		t.Fatal(err)
	}
	waitPoke(t, w)
}
