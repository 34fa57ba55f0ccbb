package procsplit

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"syscall"
	"unicode/utf8"

	"github.com/virtwatt/virtwatt/internal/procstat"
)

// Proc is what the split needs from one <proc-root>/[pid]/stat line.
// CPU times are in clock ticks (USER_HZ), the unit /proc/stat uses too, so
// that the two compare without conversion.
type Proc struct {
	PID       int
	PPID      int
	Comm      string
	CPUTicks  uint64 // utime + stime
	StartTime uint64 // ticks after boot; with PID it identifies a process across pid reuse
	Kernel    bool   // a kernel thread (PF_KTHREAD in the flags field)
}

// pfKthread is PF_KTHREAD, the flags bit (field 9) of a kernel thread.
const pfKthread = 0x00200000

// CPUTimes is the aggregate "cpu" line of <proc-root>/stat, in clock
// ticks, summed over every CPU of the guest (internal/procstat, the one
// parser of that file for both agents).
type CPUTimes = procstat.Ticks

// ReadCPU reads the aggregate cpu line of <procRoot>/stat.
func ReadCPU(procRoot string) (CPUTimes, error) {
	c, err := procstat.ReadTicks(filepath.Join(procRoot, "stat"))
	if err != nil {
		return CPUTimes{}, fmt.Errorf("read guest CPU time: %w (is --proc-root a mounted procfs?)", err)
	}
	return c, nil
}

// parseProcStat parses "pid (comm) state ppid ... utime stime ... starttime ...".
// comm may hold spaces and parentheses: it ends at the last ')'.
func parseProcStat(b []byte) (Proc, error) {
	p, comm, err := parseProcStatFields(b)
	if err != nil {
		return Proc{}, err
	}
	p.Comm = validComm(comm)
	return p, nil
}

// parseProcStatFields is parseProcStat leaving Comm empty and returning
// comm's bytes (within b), so that a scan can reuse the string it made
// for the same process last time instead of allocating one.
func parseProcStatFields(b []byte) (Proc, []byte, error) {
	open := bytes.IndexByte(b, '(')
	closing := bytes.LastIndexByte(b, ')')
	if open <= 0 || closing < open {
		return Proc{}, nil, fmt.Errorf("no (comm) in %q", truncate(b))
	}
	pid, ok := parseUint(bytes.TrimSpace(b[:open]))
	if !ok || pid > 1<<31 {
		return Proc{}, nil, fmt.Errorf("pid %q is not a number", truncate(b[:open]))
	}
	// Fields after comm: field 3 (state) is index 0; field k is index k−3.
	const (
		fPPID  = 4 - 3
		fFlags = 9 - 3
		fUtime = 14 - 3
		fStime = 15 - 3
		fStart = 22 - 3
	)
	var v [5]uint64
	idx, got := 0, 0
	rest := b[closing+1:]
	for len(rest) > 0 && got < len(v) {
		rest = bytes.TrimLeft(rest, " \n")
		if len(rest) == 0 {
			break
		}
		end := bytes.IndexAny(rest, " \n")
		if end < 0 {
			end = len(rest)
		}
		field := rest[:end]
		rest = rest[end:]
		slot := -1
		switch idx {
		case fPPID:
			slot = 0
		case fUtime:
			slot = 1
		case fStime:
			slot = 2
		case fStart:
			slot = 3
		case fFlags:
			slot = 4
		}
		if slot >= 0 {
			x, ok := parseUint(field)
			if !ok {
				return Proc{}, nil, fmt.Errorf("field %d %q is not a number", idx+3, truncate(field))
			}
			v[slot] = x
			got++
		}
		idx++
	}
	if got < len(v) {
		return Proc{}, nil, fmt.Errorf("%d fields after comm, want at least %d", idx, fStart+1)
	}
	return Proc{
		PID:       int(pid),
		PPID:      int(v[0]),
		CPUTicks:  v[1] + v[2],
		StartTime: v[3],
		Kernel:    v[4]&pfKthread != 0,
	}, b[open+1 : closing], nil
}

func truncate(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

// isESRCH reports a process that exited while its file was being read.
func isESRCH(err error) bool { return errors.Is(err, syscall.ESRCH) }

// validComm returns comm as a string that is valid UTF-8 (a Prometheus label
// value must be): a process may name itself with any bytes.
func validComm(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return string(bytes.ToValidUTF8(b, []byte("?")))
}

// parseUint parses a decimal uint64 without allocating.
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var x uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if x > (^uint64(0)-d)/10 {
			return 0, false
		}
		x = x*10 + d
	}
	return x, true
}
