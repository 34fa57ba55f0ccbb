package hostagent

import (
	"hash/fnv"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/virtwatt/virtwatt/hostagent/domain"
	"github.com/virtwatt/virtwatt/hostagent/publish"
	"github.com/virtwatt/virtwatt/hostagent/state"
	"github.com/virtwatt/virtwatt/internal/condlog"
	"github.com/virtwatt/virtwatt/share"
)

// dirTracker remembers which share directories exist and when each
// domain was last listed, for creating and pruning them.
type dirTracker struct {
	ensured   map[string]bool         // directories created by this process
	lastState map[string]domain.State // by UUID: the state last written
	lastPrune time.Time
	bad       map[string]bool     // names no share can have, logged once
	checked   map[string]bool     // UUIDs whose existing record was compared with the state
	names     map[string]struct{} // reused: names listed this tick
	// pruneLog logs prune's failures: prune runs once a minute, so a
	// directory it must leave (a mount inside) is summarized hourly, not
	// at each try.
	pruneLog *condlog.Logger
}

// badName reports (and logs once) a domain name no directory can have.
func (t *dirTracker) badName(name string, log *slog.Logger) bool {
	err := share.ValidName(name)
	if err == nil {
		return false
	}
	if !t.bad[name] {
		t.bad[name] = true
		log.Warn("domain gets no share: its name cannot be a directory name", "domain", name, "err", err)
	}
	return true
}

func (t *dirTracker) init() {
	t.bad = map[string]bool{}
	t.checked = map[string]bool{}
	t.ensured = map[string]bool{}
	t.lastState = map[string]domain.State{}
	t.names = map[string]struct{}{}
}

// pendingWrite is one share to write this tick.
type pendingWrite struct {
	name  string
	uuid  string
	state domain.State
	rec   share.Record
}

// planShares decides which shares this tick writes and builds their
// records: every running or paused domain each tick, any other domain when
// it is first seen or changes state (its guest is not running, so nobody
// waits for it). Sequences are advanced here, before the state file is
// saved, so that a restart never reuses a number a guest has seen.
func (a *Agent) planShares(now time.Time, doms []domain.Domain) {
	b := &a.tickBuf
	b.writes = b.writes[:0]
	if a.writer == nil {
		return
	}
	shares := publish.VCPUShares(doms, a.split.cpu.CPUs)
	for i := range doms {
		d := &doms[i]
		// A paused guest cannot read and its counters stand still.
		if last, ok := a.dirs.lastState[d.UUID]; d.State != domain.StateRunning && ok && last == d.State {
			continue
		}
		if a.dirs.badName(d.Name, a.log) {
			continue
		}
		vm := a.vmState(d)
		if !a.dirs.checked[d.UUID] {
			a.dirs.checked[d.UUID] = true
			a.checkExisting(d, vm)
		}
		vm.Sequence++
		rec := a.site.Record(d, *vm, now, shares)
		b.writes = append(b.writes, pendingWrite{name: d.Name, uuid: d.UUID, state: d.State, rec: rec})
	}
}

// checkExisting compares the record already in a domain's share with the
// state, once per process: if the share is ahead (the state file could not
// be saved for a while, a disk was full, an old state was restored), going
// on from the state would move the guest's counters back, so the domain
// gets a new instance id and guests start a new baseline instead.
func (a *Agent) checkExisting(d *domain.Domain, vm *state.VM) {
	// Read like every share file: never through a symlink, a FIFO or a
	// device (what is refused here, the write refuses and reports too).
	rec, err := a.writer.ReadRecord(d.Name)
	if err != nil || rec.UUID != d.UUID || rec.Instance != vm.Instance {
		return
	}
	ahead := rec.Sequence > vm.Sequence || rec.EmbodiedUG > vm.EmbodiedUG-vm.EmbodiedBaseUG
	for z, e := range rec.Zones {
		if e.TotalUJ() > vm.Zones[z].TotalUJ() {
			ahead = true
		}
	}
	if ahead {
		old := vm.Instance
		vm.Instance = newInstanceID()
		a.ledger.Rebase(vm) // the new instance counts from zero
		a.log.Warn("the share is ahead of the state file: starting a new instance so that no counter goes back",
			"domain", d.Name, "old_instance", old, "instance", vm.Instance, "share_sequence", rec.Sequence, "state_sequence", vm.Sequence)
	}
}

// parallelWritesFrom is the number of shares from which a tick spreads its
// writes over the agent's writers: each file is replaced by rename, which
// costs a millisecond or more on some file systems, and a host with
// hundreds of VMs would otherwise miss its interval.
const parallelWritesFrom = 32

// writeShares writes what planShares decided. A failed write is counted and
// retried at the next tick (its sequence number is skipped). A domain's
// share always goes through the same writer, so each writer's cache of
// static files stays its own.
func (a *Agent) writeShares() {
	ws := a.tickBuf.writes
	if len(ws) == 0 {
		return
	}
	hasDRAM := slices.Contains(a.cfg.Zones, share.ZoneDRAM)
	errs := a.tickBuf.writeErrs[:0]
	for range ws {
		errs = append(errs, nil)
	}
	a.tickBuf.writeErrs = errs
	write := func(wr *share.Writer, i int) {
		w := &ws[i]
		if !a.dirs.ensured[w.name] {
			if err := wr.EnsureDir(w.name); err != nil {
				errs[i] = err
				return
			}
		}
		errs[i] = wr.Write(w.name, &w.rec, hasDRAM)
	}
	if n := len(a.writers); n > 1 && len(ws) >= parallelWritesFrom {
		var wg sync.WaitGroup
		for k := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range ws {
					if writerFor(ws[i].name, n) == k {
						write(a.writers[k], i)
					}
				}
			}()
		}
		wg.Wait()
	} else {
		for i := range ws {
			write(a.writers[writerFor(ws[i].name, len(a.writers))], i)
		}
	}
	a.cond.OK("share")
	for i := range ws {
		w := &ws[i]
		if errs[i] != nil {
			delete(a.dirs.lastState, w.uuid)
			a.failFor("share", w.name, errs[i])
			continue
		}
		a.dirs.ensured[w.name] = true
		a.dirs.lastState[w.uuid] = w.state
	}
}

// writerFor picks the writer of a domain's share.
func writerFor(name string, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	return int(h.Sum32() % uint32(n))
}

// prune removes the share directories of domains not listed for longer than
// PruneAfter. It looks at most once a minute, and reports whether it did.
func (a *Agent) prune(now time.Time, doms []domain.Domain) bool {
	clear(a.dirs.names)
	for i := range doms {
		a.dirs.names[doms[i].Name] = struct{}{}
		a.st.Dirs[doms[i].Name] = now
	}
	for uuid := range a.dirs.lastState {
		if _, ok := a.split.raw[uuid]; !ok {
			delete(a.dirs.lastState, uuid)
		}
	}
	if a.writer == nil || now.Sub(a.dirs.lastPrune) < time.Minute {
		return false
	}
	a.dirs.lastPrune = now
	if a.dirs.pruneLog == nil {
		a.dirs.pruneLog = condlog.New(a.log, condlog.Options{Every: time.Hour, Now: a.src.Now, Subject: "domain", Subjects: "domains"})
	}
	defer a.dirs.pruneLog.Flush()
	a.dirs.pruneLog.OK("prune")
	existing, err := a.writer.List()
	if err != nil {
		a.pruneFailed("", err)
		return true
	}
	for _, name := range existing {
		if _, ok := a.dirs.names[name]; ok {
			continue
		}
		seen, ok := a.st.Dirs[name]
		if !ok {
			a.st.Dirs[name] = now // found on disk: start its clock now
			continue
		}
		if now.Sub(seen) < a.cfg.PruneAfter {
			continue
		}
		if err := a.writer.Remove(name); err != nil {
			// A mount inside it or a path it will not follow: the rest
			// was removed, the directory stays and is retried.
			a.pruneFailed(name, err)
			continue
		}
		delete(a.st.Dirs, name)
		delete(a.dirs.ensured, name)
		a.log.Info("pruned share directory of a vanished domain", "domain", name, "last_seen", seen)
	}
	return true
}

// forgetVanished drops from the state the domains not listed for longer
// than PruneAfter; the ledger moves their energy to the forgotten counter.
func (a *Agent) forgetVanished(now time.Time) {
	for uuid, vm := range a.st.VMs {
		if _, listed := a.split.raw[uuid]; listed || vm.LastSeen.IsZero() || now.Sub(vm.LastSeen) < a.cfg.PruneAfter {
			continue
		}
		a.ledger.Forget(uuid)
		a.log.Info("forgot the counters of a vanished domain", "domain", vm.Name, "uuid", uuid, "last_seen", vm.LastSeen)
	}
}

// pruneFailed counts a failure of prune and reports it to its log.
func (a *Agent) pruneFailed(domain string, err error) {
	a.obs.errors.WithLabelValues("prune").Inc()
	a.dirs.pruneLog.Fail("prune", domain, err)
}
