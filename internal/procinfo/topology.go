package procinfo

import (
	"bufio"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/virtwatt/virtwatt/internal/regfile"
)

// topologyLimit bounds how much of cpuinfo ReadTopology reads: every
// processor block is needed, about 1.5 KiB each on x86 (a flags line),
// so 16 MiB covers some 10,000 threads.
const topologyLimit = 16 << 20

// Topology is how many sockets and hardware threads <procRoot>/cpuinfo
// lists; both are at least 1 when the file was read.
type Topology struct {
	Sockets int // distinct "physical id" values (1 when none is given, as in many VMs and on arm64)
	Threads int // "processor" lines (1 when none)
}

// ReadTopology counts the sockets and threads of <procRoot>/cpuinfo,
// reading every processor block.
func ReadTopology(procRoot string) (Topology, error) {
	path := filepath.Join(procRoot, "cpuinfo")
	f, err := regfile.Open(path, 0)
	if err != nil {
		return Topology{}, fmt.Errorf("procinfo: %w", err)
	}
	defer f.Close()
	sockets := map[string]bool{}
	var t Topology
	sc := bufio.NewScanner(io.LimitReader(f, topologyLimit))
	sc.Buffer(make([]byte, 0, 4096), 1<<20) // flags lines grow with each CPU generation
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(key) {
		case "processor":
			t.Threads++
		case "physical id":
			sockets[strings.TrimSpace(val)] = true
		}
	}
	if err := sc.Err(); err != nil {
		return Topology{}, fmt.Errorf("procinfo: read %s: %w", path, err)
	}
	t.Sockets, t.Threads = max(len(sockets), 1), max(t.Threads, 1)
	return t, nil
}
