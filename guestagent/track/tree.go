package track

import (
	"github.com/virtwatt/virtwatt/guestagent/procsplit"
)

// userHZ is the unit of /proc's CPU times (clock ticks): USER_HZ, 100 on
// every Linux architecture the guest agent is built for.
const userHZ = 100

type procKey struct {
	pid   int
	start uint64
}

// tree follows the command's process tree in /proc: a process belongs to
// it when its parent does at the moment it is first seen; once in, it stays
// in (keyed by pid and start time, safe from pid reuse), so that a
// descendant that daemonizes and is reparented still counts. For each it
// keeps the largest CPU time seen.
type tree struct {
	scanner *procsplit.Scanner
	root    int
	members map[procKey]uint64 // CPU ticks last seen
	byPID   map[int]procKey
	buf     []procsplit.Proc
	cur     map[int]uint64 // pid → start time in the last scan
}

func newTree(procRoot string, rootPID int) *tree {
	return &tree{
		scanner: procsplit.NewScanner(procRoot),
		root:    rootPID,
		members: map[procKey]uint64{},
		byPID:   map[int]procKey{},
		cur:     map[int]uint64{},
	}
}

// scan reads /proc once and updates the members' CPU times.
func (t *tree) scan() error {
	procs, _, err := t.scanner.Scan(t.buf[:0])
	t.buf = procs
	if err != nil {
		return err
	}
	clear(t.cur)
	for _, p := range procs {
		t.cur[p.PID] = p.StartTime
	}
	// Parents are usually listed before children, but not always (pid
	// wrap): repeat until no process joins.
	for changed := true; changed; {
		changed = false
		for _, p := range procs {
			k := procKey{p.PID, p.StartTime}
			if _, in := t.members[k]; in {
				if p.CPUTicks > t.members[k] {
					t.members[k] = p.CPUTicks
				}
				continue
			}
			if p.PID == t.root || t.isMemberPID(p.PPID) {
				t.members[k] = p.CPUTicks
				t.byPID[p.PID] = k
				changed = true
			}
		}
	}
	return nil
}

// isMemberPID reports whether the process now holding pid is a member.
func (t *tree) isMemberPID(pid int) bool {
	k, ok := t.byPID[pid]
	if !ok {
		return false
	}
	start, alive := t.cur[pid]
	return alive && start == k.start
}

// cpuSeconds is the CPU time seen in /proc over every member.
func (t *tree) cpuSeconds() float64 {
	var ticks uint64
	for _, v := range t.members {
		ticks += v
	}
	return float64(ticks) / userHZ
}
