// Package flock makes sure one process at a time works on a set of files:
// it takes an exclusive, non-blocking flock(2) on a lock file and writes
// the holder's PID into it, so that a second process is refused at once
// with an error that names the holder.
//
// The lock belongs to the open file: it is released when the holder closes
// it or dies (even by SIGKILL), never left stale. The lock file itself is
// left in place: removing it would let a process that opened the old file
// and one that creates a new one both hold "the" lock.
package flock

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"
	"time"
)

// HeldError is returned by Acquire when another process holds the lock.
type HeldError struct {
	Path string
	PID  int // 0 when the holder's PID could not be read
}

func (e *HeldError) Error() string {
	if e.PID == 0 {
		return fmt.Sprintf("%s is locked by another process (PID not readable from it)", e.Path)
	}
	return fmt.Sprintf("%s is locked by process %d", e.Path, e.PID)
}

// Holder names the holder for a message: who (e.g. "another
// virtwatt-host") with its PID, or saying the PID could not be read.
func (e *HeldError) Holder(who string) string {
	if e.PID == 0 {
		return who + " (its PID is not in the lock file)"
	}
	return fmt.Sprintf("%s, PID %d", who, e.PID)
}

// Lock is a held lock. The zero value is not usable.
type Lock struct {
	f    *os.File
	path string
}

// pidWait is how long Acquire waits for a holder that has just taken the
// lock to write its PID.
const pidWait = 200 * time.Millisecond

// Acquire creates path (mode 0644) when missing and takes an exclusive lock
// on it without waiting. A symbolic link, FIFO, device or directory at path
// is refused without blocking. When another process holds the lock it
// returns a *HeldError.
func Acquire(path string) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0o644)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, fmt.Errorf("lock file %s is a symbolic link: remove it", path)
		}
		return nil, fmt.Errorf("lock file: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("lock file %s is not a regular file (%v): remove it", path, fi.Mode().Type())
	}
	if err := flock(f, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &HeldError{Path: path, PID: holderPID(f)}
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	l := &Lock{f: f, path: path}
	if err := l.writePID(); err != nil {
		f.Close()
		return nil, err
	}
	return l, nil
}

// Release empties the lock file and releases the lock. It is safe to call
// more than once.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	terr := l.f.Truncate(0)
	cerr := l.f.Close() // closing the last descriptor releases the flock
	l.f = nil
	if cerr != nil {
		return fmt.Errorf("releasing lock %s: %w", l.path, cerr)
	}
	if terr != nil {
		return fmt.Errorf("releasing lock %s: %w", l.path, terr)
	}
	return nil
}

func (l *Lock) writePID() error {
	pid := []byte(strconv.Itoa(os.Getpid()) + "\n")
	if err := l.f.Truncate(0); err != nil {
		return fmt.Errorf("lock file %s: %w", l.path, err)
	}
	if _, err := l.f.WriteAt(pid, 0); err != nil {
		return fmt.Errorf("lock file %s: writing the PID: %w", l.path, err)
	}
	return nil
}

// holderPID reads the PID the holder wrote, waiting briefly for a holder
// that has the lock but has not written it yet.
func holderPID(f *os.File) int {
	deadline := time.Now().Add(pidWait)
	for {
		var buf [24]byte
		n, err := f.ReadAt(buf[:], 0)
		if err == nil || errors.Is(err, io.EOF) {
			if pid, err := strconv.Atoi(string(bytes.TrimSpace(buf[:n]))); err == nil && pid > 0 {
				return pid
			}
		}
		if time.Now().After(deadline) {
			return 0
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// flock retries on EINTR (a signal arriving during the call).
func flock(f *os.File, how int) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		for {
			if ferr = syscall.Flock(int(fd), how); !errors.Is(ferr, syscall.EINTR) {
				return
			}
		}
	}); err != nil {
		return err
	}
	return ferr
}
