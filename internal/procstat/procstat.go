// Package procstat is the one parser of <proc-root>/stat for both agents:
// the host's CPU time in nanoseconds (Read) and a guest's in clock ticks
// (ReadTicks). It reads only the leading cpu lines, through a pooled
// buffer, and never blocks on a FIFO planted at the path.
package procstat

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/virtwatt/virtwatt/internal/regfile"
)

// Ticks is the aggregate "cpu" line of /proc/stat in clock ticks
// (USER_HZ), summed over every CPU, and the number of cpuN lines.
type Ticks struct {
	Busy  uint64 // user+nice+system+irq+softirq+steal (guest time is inside user and nice)
	Idle  uint64 // idle+iowait
	Steal uint64 // of Busy, steal: in a VM, time its vCPUs waited for the host's CPUs
	CPUs  int    // cpuN lines
}

// Total is Busy + Idle.
func (t Ticks) Total() uint64 { return t.Busy + t.Idle }

// CPU is the aggregate "cpu" line of /proc/stat, converted to nanoseconds.
type CPU struct {
	BusyNS uint64 // user+nice+system+irq+softirq+steal (guest time is inside user)
	IdleNS uint64 // idle+iowait
	CPUs   int    // online CPUs (cpuN lines)
}

// UserHZ is the unit of /proc/stat times (USER_HZ), fixed at 100 on Linux
// for every architecture's userspace ABI.
const UserHZ = 100

// nsPerTick is 1e9 / USER_HZ.
const nsPerTick = 1_000_000_000 / UserHZ

// Fields of a cpu line, in kernel order (fs/proc/stat.c).
const (
	fUser = iota
	fNice
	fSystem
	fIdle
	fIOWait
	fIRQ
	fSoftIRQ
	fSteal
	fGuest     // already inside user
	fGuestNice // already inside nice
	nFields
)

var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

// Read parses <procRoot>/stat: the aggregate "cpu" line, in nanoseconds,
// and the number of "cpuN" lines, of which there must be at least one.
// Guest and guest_nice are not added: the kernel already counts them inside
// user and nice. Kernels older than 2.6.33 have fewer fields; missing ones
// count as 0.
//
// Only the leading cpu lines are read (the rest of the file, with its
// sometimes very long intr line, is skipped), and the line buffer is pooled,
// so a call costs one open and a handful of small allocations.
func Read(procRoot string) (CPU, error) {
	path := filepath.Join(procRoot, "stat")
	t, err := ReadTicks(path)
	if err != nil {
		return CPU{}, err
	}
	if t.CPUs == 0 {
		return CPU{}, fmt.Errorf("procstat: %s: no per-CPU \"cpuN\" lines", path)
	}
	return CPU{BusyNS: t.Busy * nsPerTick, IdleNS: t.Idle * nsPerTick, CPUs: t.CPUs}, nil
}

// ReadTicks parses the stat file at path (<proc-root>/stat) as Read does,
// in clock ticks; a file with no cpuN lines gives CPUs 0.
func ReadTicks(path string) (Ticks, error) {
	f, err := regfile.Open(path, 0) // never blocks on a FIFO planted at the path
	if err != nil {
		return Ticks{}, fmt.Errorf("procstat: %w", err)
	}
	defer f.Close()
	br := readers.Get().(*bufio.Reader)
	br.Reset(f)
	defer func() { br.Reset(nil); readers.Put(br) }()
	t, err := parse(br)
	if err != nil {
		return Ticks{}, fmt.Errorf("procstat: %s: %w", path, err)
	}
	return t, nil
}

// parse reads cpu lines from br until the first line that is not one.
func parse(br *bufio.Reader) (Ticks, error) {
	var (
		c         Ticks
		haveTotal bool
		lineNo    int
	)
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A cpu line never fills 4 KiB; a longer line ends the cpu block.
			break
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return Ticks{}, err
		}
		if len(line) == 0 && err != nil {
			break
		}
		lineNo++
		name, rest := cutField(line)
		if !bytes.HasPrefix(name, []byte("cpu")) {
			break
		}
		if len(name) == 3 {
			if haveTotal {
				return Ticks{}, fmt.Errorf("line %d: second aggregate cpu line", lineNo)
			}
			var v [nFields]uint64
			n := 0
			for n < nFields {
				var fld []byte
				fld, rest = cutField(rest)
				if len(fld) == 0 {
					break
				}
				x, ok := parseUint(fld)
				if !ok {
					return Ticks{}, fmt.Errorf("line %d: field %d %q is not a number", lineNo, n+1, fld)
				}
				v[n] = x
				n++
			}
			if n < fIOWait {
				return Ticks{}, fmt.Errorf("line %d: aggregate cpu line has %d fields, want at least 4", lineNo, n)
			}
			c.Busy = v[fUser] + v[fNice] + v[fSystem] + v[fIRQ] + v[fSoftIRQ] + v[fSteal]
			c.Idle = v[fIdle] + v[fIOWait]
			c.Steal = v[fSteal]
			haveTotal = true
		} else if _, ok := parseUint(name[3:]); ok {
			c.CPUs++
		}
		if err != nil { // io.EOF after a last line without newline
			break
		}
	}
	if !haveTotal {
		return Ticks{}, errors.New("no aggregate \"cpu\" line")
	}
	return c, nil
}

// cutField returns the first space-separated field of b and the rest.
func cutField(b []byte) (field, rest []byte) {
	i := 0
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	j := i
	for j < len(b) && !isSpace(b[j]) {
		j++
	}
	return b[i:j], b[j:]
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// parseUint parses a non-empty unsigned decimal. strconv does not keep
// its argument, so string(b) does not allocate here.
func parseUint(b []byte) (uint64, bool) {
	v, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return 0, false
	}
	return v, true
}
