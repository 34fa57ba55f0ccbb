package follow

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestWatcherSeesShareAppear checks the poke when the share directory is
// created after the watcher started, and then when a file changes in it.
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
	if err := os.WriteFile(filepath.Join(dir, "virtwatt.json"), []byte("{}"), 0o644); err != nil {
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
