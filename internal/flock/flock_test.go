package flock

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func TestSecondAcquireNamesHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json.lock")
	l, err := Acquire(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(string(b)), strconv.Itoa(os.Getpid()); got != want {
		t.Fatalf("lock file holds %q, want the PID %s", got, want)
	}
	// flock locks belong to the open file: a second open, even in this
	// process, is refused like another process would be.
	_, err = Acquire(path)
	var held *HeldError
	if !errors.As(err, &held) {
		t.Fatalf("second Acquire: %v, want a HeldError", err)
	}
	if held.PID != os.Getpid() || held.Path != path {
		t.Fatalf("HeldError %+v, want PID %d and path %s", held, os.Getpid(), path)
	}
	if msg := err.Error(); !strings.Contains(msg, strconv.Itoa(os.Getpid())) || !strings.Contains(msg, path) {
		t.Fatalf("error %q does not name the PID and the path", msg)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(); err != nil {
		t.Fatalf("second Release: %v", err)
	}
	l2, err := Acquire(path)
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	defer l2.Release()
}

func TestHolderWithoutPID(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	f, err := os.Create(path) // an old holder that wrote nothing
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(path)
	var held *HeldError
	if !errors.As(err, &held) || held.PID != 0 {
		t.Fatalf("Acquire: %v, want a HeldError without PID", err)
	}
}

func TestRefusesNonRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.lock")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.lock")
	if err := os.Symlink(filepath.Join(dir, "target"), link); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "dir.lock")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fifo, link, sub} {
		if l, err := Acquire(p); err == nil || !strings.Contains(err.Error(), p) {
			l.Release()
			t.Errorf("Acquire(%s): %v, want an error naming the path", p, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(dir, "target")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the symlink was followed: %v", err)
	}
}

func TestHolder(t *testing.T) {
	if got := (&HeldError{PID: 42}).Holder("another agent"); got != "another agent, PID 42" {
		t.Errorf("Holder = %q", got)
	}
	if got := (&HeldError{}).Holder("another agent"); got != "another agent (its PID is not in the lock file)" {
		t.Errorf("Holder = %q", got)
	}
}
