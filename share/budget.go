package share

import (
	"math"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/virtwatt/virtwatt/internal/procinfo"
)

// DirBudget bounds how many directories the Writers sharing it hold open
// across writes (see Writer: up to 3 per VM). A directory that finds the
// budget spent is opened for the write that needs it (O_PATH, never
// following a link, relative to the root or the VM directory just
// opened) and closed when that write ends: the same checks, the same
// files, two more system calls per directory per write, and no
// descriptor kept. The first directories to ask keep their place until
// released (Writer.Close, Remove, a VM no longer written): under a tick
// that writes every VM in turn, a least-recently-used cache the size of
// the budget would hit nothing, while first come keeps budget-many
// directories on the fast path. Safe for concurrent use.
type DirBudget struct {
	limit atomic.Int64
	held  atomic.Int64
}

// NewDirBudget returns a budget of n directories (0: none is held, every
// write opens and closes its directories).
func NewDirBudget(n int) *DirBudget {
	b := &DirBudget{}
	b.limit.Store(int64(max(n, 0)))
	return b
}

// limitNow is how many directories may be held (exhausted lowers it).
func (b *DirBudget) limitNow() int { return int(b.limit.Load()) }

// Held is how many directories are held now.
func (b *DirBudget) Held() int { return int(b.held.Load()) }

// take claims one place, reporting whether there was one.
func (b *DirBudget) take() bool {
	for {
		h := b.held.Load()
		if h >= b.limit.Load() {
			return false
		}
		if b.held.CompareAndSwap(h, h+1) {
			return true
		}
	}
}

// give returns a place take gave.
func (b *DirBudget) give() { b.held.Add(-1) }

// exhausted lowers the limit to what is held now: an open failed for
// want of descriptors (EMFILE, ENFILE), so the budget was more than the
// process can spare; the Writers stop holding more, and keep writing.
func (b *DirBudget) exhausted() {
	for {
		l, h := b.limit.Load(), b.held.Load()
		if h >= l || b.limit.CompareAndSwap(l, h) {
			return
		}
	}
}

// ReservedFDs is how many descriptors ProcessDirBudget leaves to the rest
// of the process: the web endpoint's connections (64 by default) and the
// reserve it keeps for measurement (internal/webserver.FDReserve, 64),
// each Writer's file being written and its directories opened for one
// write, the state file, meter and /proc files, libvirt's connection.
const ReservedFDs = 256

// ProcessDirBudget is the budget NewWriter gives every Writer of the
// process: RLIMIT_NOFILE's soft limit (Go raises it to the hard limit at
// start: LimitNOFILE= in a systemd unit) as at the first call, less the
// descriptors open then and ReservedFDs. At 10,000 VMs with dram the
// Writers would hold 30,000 directories; under a lower limit the VMs
// beyond the budget take the per-write path instead of failing with
// EMFILE.
var ProcessDirBudget = sync.OnceValue(func() *DirBudget {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > math.MaxInt32 {
		return NewDirBudget(math.MaxInt32)
	}
	return NewDirBudget(int(rl.Cur) - procinfo.OpenFDs() - ReservedFDs)
})
