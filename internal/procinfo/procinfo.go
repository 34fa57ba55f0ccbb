// Package procinfo is the one reader of <proc-root>/cpuinfo and
// <proc-root>/meminfo: the first processor's identity (vendor, family,
// model, stepping, model name) and the memory size. Both agents and the
// guest's outputs use it; nothing else parses those files.
// OpenFDs is the one count of the process's open descriptors
// (/proc/self/fd).
//
// Files are opened through regfile (never blocking on a FIFO planted at the
// path) and read only as far as needed: the first processor block of
// cpuinfo, within its first 64 KiB, and meminfo's first 16 KiB.
package procinfo

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/virtwatt/virtwatt/internal/regfile"
)

// What is read of each file, at most.
const (
	cpuinfoLimit = 64 << 10
	meminfoLimit = 16 << 10
)

// CPU is the first processor block of /proc/cpuinfo. Fields the file does
// not have (an arm64 kernel writes no "model name") are zero; Family,
// Model and Stepping are -1 when absent or not a number.
type CPU struct {
	VendorID  string // "GenuineIntel", "AuthenticAMD", "HygonGenuine", ...
	Family    int    // "cpu family"
	Model     int    // "model"
	Stepping  int    // "stepping"
	ModelName string // "model name", trimmed
}

// ReadCPU parses <procRoot>/cpuinfo's first processor block.
func ReadCPU(procRoot string) (CPU, error) {
	return ReadCPUFile(filepath.Join(procRoot, "cpuinfo"))
}

// ReadCPUFile parses the first processor block of the cpuinfo file at
// path (for a caller configured with the file itself, like the MSR
// meter). A missing file's error matches fs.ErrNotExist.
func ReadCPUFile(path string) (CPU, error) {
	f, err := regfile.Open(path, 0)
	if err != nil {
		return CPU{}, fmt.Errorf("procinfo: %w", err)
	}
	defer f.Close()
	c := CPU{Family: -1, Model: -1, Stepping: -1}
	seen := false
	sc := bufio.NewScanner(io.LimitReader(f, cpuinfoLimit))
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			if seen {
				break // end of the first processor block
			}
			continue
		}
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		seen = true
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		switch key {
		case "vendor_id":
			c.VendorID = val
		case "cpu family":
			c.Family = atoi(val)
		case "model":
			c.Model = atoi(val)
		case "stepping":
			c.Stepping = atoi(val)
		case "model name":
			c.ModelName = val
		}
	}
	if err := sc.Err(); err != nil {
		return CPU{}, fmt.Errorf("procinfo: read %s: %w", path, err)
	}
	if !seen {
		return CPU{}, fmt.Errorf("procinfo: %s: no \"key : value\" line in its first processor block", path)
	}
	return c, nil
}

func atoi(s string) int {
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 {
		return -1
	}
	return v
}

// ErrNoMemTotal says meminfo has no usable MemTotal line.
var ErrNoMemTotal = errors.New("no \"MemTotal: N kB\" line")

// MemTotalBytes is <procRoot>/meminfo's MemTotal in bytes.
func MemTotalBytes(procRoot string) (uint64, error) {
	path := filepath.Join(procRoot, "meminfo")
	f, err := regfile.Open(path, 0)
	if err != nil {
		return 0, fmt.Errorf("procinfo: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, meminfoLimit))
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) < 2 || fl[0] != "MemTotal:" {
			continue
		}
		kb, err := strconv.ParseUint(fl[1], 10, 64)
		if err != nil || (len(fl) > 2 && fl[2] != "kB") || kb > (1<<64-1)/1024 {
			return 0, fmt.Errorf("procinfo: %s: MemTotal %q: %w", path, strings.Join(fl[1:], " "), ErrNoMemTotal)
		}
		return kb * 1024, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("procinfo: read %s: %w", path, err)
	}
	return 0, fmt.Errorf("procinfo: %s: %w", path, ErrNoMemTotal)
}
