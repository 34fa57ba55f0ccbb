package follow

import (
	"log/slog"
	"path/filepath"
	"strings"
	"sync"

	"github.com/fsnotify/fsnotify"

	"github.com/virtwatt/virtwatt/share"
)

// Watcher pokes the agent to poll the share at once when something it can
// see changes: the share directory being created, replaced or renamed in
// its parent, or files changing in a local directory. inotify does not see
// writes made on the host side of 9p or virtiofs, so a Watcher only
// shortens the wait; the agent polls regardless.
type Watcher struct {
	dir, parent string
	logger      *slog.Logger
	w           *fsnotify.Watcher
	poke        chan struct{}
	done        chan struct{}

	mu       sync.Mutex
	watching map[string]bool
}

// NewWatcher watches dir and its parent, whichever exist now; Refresh adds
// the others as they appear.
func NewWatcher(dir string, logger *slog.Logger) (*Watcher, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	dir = filepath.Clean(dir)
	w := &Watcher{
		dir:      dir,
		parent:   filepath.Dir(dir),
		logger:   logger,
		w:        fw,
		poke:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		watching: map[string]bool{},
	}
	w.Refresh()
	go w.loop()
	return w, nil
}

// C delivers a value when the share should be polled now. Pokes coalesce.
func (w *Watcher) C() <-chan struct{} { return w.poke }

// Refresh watches dir and its parent if they exist and are not watched yet.
// It is cheap and meant to be called on every poll.
func (w *Watcher) Refresh() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range []string{w.parent, w.dir} {
		if w.watching[p] {
			continue
		}
		if err := w.w.Add(p); err == nil {
			w.watching[p] = true
			w.logger.Debug("watching for changes", "path", p)
		}
	}
}

// Close stops watching.
func (w *Watcher) Close() error {
	err := w.w.Close()
	<-w.done
	return err
}

func (w *Watcher) loop() {
	defer close(w.done)
	for {
		select {
		case ev, ok := <-w.w.Events:
			if !ok {
				return
			}
			w.handle(ev)
		case err, ok := <-w.w.Errors:
			if !ok {
				return
			}
			w.logger.Debug("fsnotify error", "err", err)
		}
	}
}

// pokes reports whether a change to this entry of the share directory
// means new data: the record, or a zone directory of the tree (the
// counters inside are not watched). A host writes each file to a
// temporary name and renames it over the old one, so of a write's several
// events only the rename's names the record.
func pokes(base string) bool {
	return base == share.RecordFile || strings.HasPrefix(base, "intel-rapl")
}

func (w *Watcher) handle(ev fsnotify.Event) {
	name := filepath.Clean(ev.Name)
	inDir := filepath.Dir(name) == w.dir
	if name != w.dir && !inDir {
		return // something else in the parent directory
	}
	if inDir && !pokes(filepath.Base(name)) {
		return // the host's temporary files: the rename that ends a write names the file itself
	}
	if name == w.dir && ev.Has(fsnotify.Remove|fsnotify.Rename) {
		// The directory went away or was replaced: watch it again when it is back.
		w.mu.Lock()
		delete(w.watching, w.dir)
		w.mu.Unlock()
	}
	if name == w.dir && ev.Has(fsnotify.Create) {
		w.Refresh()
	}
	select {
	case w.poke <- struct{}{}:
	default:
	}
}
