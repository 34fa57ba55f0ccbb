package follow

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

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
