// Package procinfo is the one parser of <proc-root>/cpuinfo and
// <proc-root>/meminfo for both agents: the CPU's vendor, family, model and
// model name, how many sockets and hardware threads the host has, and the
// memory it holds. It reads through internal/regfile, so a FIFO planted at
// the path never blocks it.
//
// Invariants: a missing field is its zero value (a virtual CPU may say no
// model name, ARM says no vendor_id); Sockets and Threads are at least 1
// when the file parsed at all, so a caller multiplying by them never gets 0.
package procinfo

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"

	"github.com/virtwatt/virtwatt/internal/regfile"
)

// Vendors, as CPU.Vendor says them.
const (
	VendorIntel = "intel"
	VendorAMD   = "amd"
)

// CPU is what /proc/cpuinfo says of the host's processors.
type CPU struct {
	// Vendor is VendorIntel, VendorAMD (Hygon, an AMD licensee, included)
	// or "" when unknown; Family and Model are the first processor's
	// "cpu family" and "model".
	Vendor        string
	Family, Model int
	// ModelName is the first processor's "model name" ("" when absent).
	ModelName string
	// Sockets counts the distinct "physical id" values (1 when none is
	// given, as in many VMs); Threads counts the "processor" blocks (1
	// when none).
	Sockets, Threads int
}

// ReadCPU parses a cpuinfo file. The error of a file that cannot be opened
// is regfile's (os.IsNotExist works on it).
func ReadCPU(path string) (CPU, error) {
	f, err := regfile.Open(path, 0)
	if err != nil {
		return CPU{}, err
	}
	defer f.Close()
	var (
		c       CPU
		first   = true // still in the first processor block
		sockets = map[string]bool{}
		sawAny  bool
	)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20) // flags lines are long on recent CPUs
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			if sawAny {
				first = false
			}
			continue
		}
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		sawAny = true
		switch key {
		case "processor":
			c.Threads++
		case "physical id":
			sockets[val] = true
		}
		if !first {
			continue
		}
		switch key {
		case "vendor_id":
			switch val {
			case "GenuineIntel":
				c.Vendor = VendorIntel
			case "AuthenticAMD", "HygonGenuine":
				c.Vendor = VendorAMD
			}
		case "cpu family":
			c.Family, _ = strconv.Atoi(val)
		case "model":
			c.Model, _ = strconv.Atoi(val)
		case "model name":
			c.ModelName = val
		}
	}
	if err := sc.Err(); err != nil {
		return CPU{}, fmt.Errorf("read %s: %w", path, err)
	}
	c.Sockets = max(len(sockets), 1)
	c.Threads = max(c.Threads, 1)
	return c, nil
}

// ReadMemTotal returns MemTotal of a meminfo file, in bytes (the file says
// kB, which the kernel means as KiB).
func ReadMemTotal(path string) (uint64, error) {
	f, err := regfile.Open(path, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || fields[0] != "MemTotal:" {
			continue
		}
		kb, err := strconv.ParseUint(fields[1], 10, 64)
		if err != nil || kb > (1<<64-1)/1024 {
			return 0, fmt.Errorf("%s: MemTotal %q is not a number of kB", path, fields[1])
		}
		return kb * 1024, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	return 0, fmt.Errorf("%s: no MemTotal line", path)
}
