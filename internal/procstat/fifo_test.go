package procstat

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A FIFO at <proc-root>/stat is refused at once: the agent reads it at
// start, where a blocked read would ignore SIGTERM.
func TestReadRefusesFIFOWithoutBlocking(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "stat"), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := Read(dir); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "FIFO") || !strings.Contains(err.Error(), filepath.Join(dir, "stat")) {
			t.Fatalf("got %v, want a refusal naming the FIFO", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Read blocked on a FIFO")
	}
}
