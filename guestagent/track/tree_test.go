package track

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func writeProc(t *testing.T, root string, pid, ppid int, ticks, start uint64) {
	t.Helper()
	dir := filepath.Join(root, fmt.Sprint(pid))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	line := fmt.Sprintf("%d (p%d) S %d 0 0 0 -1 0 0 0 0 0 %d 0 0 0 20 0 1 0 %d 0 0\n", pid, pid, ppid, ticks, start)
	if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestTreeFollowsDescendants(t *testing.T) {
	root := t.TempDir()
	writeProc(t, root, 1, 0, 0, 1)
	writeProc(t, root, 100, 1, 10, 50)   // the command
	writeProc(t, root, 101, 100, 20, 51) // its child
	writeProc(t, root, 90, 101, 5, 52)   // grandchild with a lower pid (pid wrap)
	writeProc(t, root, 200, 1, 999, 40)  // a stranger
	tr := newTree(root, 100)
	if err := tr.scan(); err != nil {
		t.Fatal(err)
	}
	if got := tr.cpuSeconds(); got != 0.35 {
		t.Fatalf("tree CPU %v s, want 0.35 (35 ticks)", got)
	}
	// The child daemonizes: reparented to 1, still counted; the grandchild exits.
	writeProc(t, root, 101, 1, 60, 51)
	os.RemoveAll(filepath.Join(root, "90"))
	// pid 90 reused by a stranger whose parent is 1.
	writeProc(t, root, 90, 1, 500, 70)
	if err := tr.scan(); err != nil {
		t.Fatal(err)
	}
	if got := tr.cpuSeconds(); got != 0.75 {
		t.Fatalf("tree CPU %v s, want 0.75 (10+60+5 ticks)", got)
	}
	// A new child of the reused pid 90 is not ours.
	writeProc(t, root, 300, 90, 100, 80)
	tr.scan()
	if got := tr.cpuSeconds(); got != 0.75 {
		t.Fatalf("tree CPU %v s after a stranger's child, want 0.75", got)
	}
}
