// Package fanout writes virtwatt-host's shares: it decides which VMs'
// shares a tick writes, spreads the writes over the agent's share writers,
// remembers which directories it made and prunes the directories of VMs
// gone for longer than a grace period.
//
// It keeps no energy counter and books none: records are built by package
// publish from the ledger's counters and handed in by value (Add); the
// loop calls Plan's steps, Write, Seen and Prune in that order each tick,
// as plain function calls. Invariants:
//   - a domain's share always goes through the same writer (WriterFor), so
//     each writer's cache of static files stays its own;
//   - a domain not running is written when first seen and when its state
//     changes, never again until then (its guest reads nothing);
//   - a failed write is retried at the next tick;
//   - Prune removes only directories whose domain was not listed for the
//     grace period, and looks at most once a minute.
package fanout

import (
	"log/slog"
	"sync"
	"time"

	"github.com/virtwatt/virtwatt/hostagent/domain"
	"github.com/virtwatt/virtwatt/internal/condlog"
	"github.com/virtwatt/virtwatt/share"
)

// Writer is what fanout needs of a share writer (*share.Writer).
type Writer interface {
	EnsureDir(name string) error
	Write(name string, rec *share.Record, hasDRAM bool) error
	ReadRecord(name string) (*share.Record, error)
	List() ([]string, error)
	Remove(name string) error
}

// ParallelFrom is the number of shares from which a tick spreads its
// writes over the writers: each file is replaced by rename, which costs a
// millisecond or more on some file systems, and a host with hundreds of
// VMs would otherwise miss its interval.
const ParallelFrom = 32

// PruneEvery is how often Prune looks at the share root.
const PruneEvery = time.Minute

// Failure is one share a tick could not write.
type Failure struct {
	Name string
	Err  error
}

// Shares writes the shares of a host's domains. It is not safe for
// concurrent use (its writes run in parallel inside Write).
type Shares struct {
	writers []Writer // the first one lists, reads and removes
	log     *slog.Logger
	now     func() time.Time
	hasDRAM bool // every record carries a dram zone, written as a tree

	ensured   map[string]bool         // directories created by this process
	lastState map[string]domain.State // by UUID: the state last written
	lastPrune time.Time
	bad       map[string]bool     // names no share can have, logged once
	checked   map[string]bool     // UUIDs whose existing record was read
	listed    []string            // reused: names listed at the last Seen
	names     map[string]struct{} // reused: listed as a set, built by Prune
	uuids     map[string]struct{} // reused: UUIDs listed this tick
	// pruneLog logs Prune's failures: Prune runs once a minute, so a
	// directory it must leave (a mount inside) is summarized hourly, not
	// at each try.
	pruneLog *condlog.Logger

	writes   []write // this tick's, reused
	errs     []error
	failures []Failure
}

// write is one share to write this tick.
type write struct {
	name  string
	uuid  string
	state domain.State
	rec   share.Record
}

// New returns Shares writing through ws (none: a dry run that writes,
// reads and prunes nothing). hasDRAM says the records carry a dram zone
// that is written as a tree too. now is the clock of Prune's log.
func New(ws []Writer, hasDRAM bool, log *slog.Logger, now func() time.Time) *Shares {
	return &Shares{
		writers: ws, hasDRAM: hasDRAM, log: log, now: now,
		ensured:   map[string]bool{},
		lastState: map[string]domain.State{},
		bad:       map[string]bool{},
		checked:   map[string]bool{},
		names:     map[string]struct{}{},
		uuids:     map[string]struct{}{},
	}
}

// AddWriters adds writers on the same share root.
func (s *Shares) AddWriters(ws ...Writer) { s.writers = append(s.writers, ws...) }

// Writes reports whether there is any writer (false: a dry run).
func (s *Shares) Writes() bool { return len(s.writers) > 0 }

// Begin starts a tick's plan: nothing is to be written yet.
func (s *Shares) Begin() { s.writes = s.writes[:0] }

// Due reports whether d's share is written this tick: every running or
// paused domain's each tick, any other domain's when it is first seen or
// changes state (its guest is not running, so nobody waits for it), and
// never a share for a name no directory can have (logged once).
func (s *Shares) Due(d *domain.Domain) bool {
	if !s.Writes() {
		return false
	}
	// A paused guest cannot read and its counters stand still.
	if d.State != domain.StateRunning {
		if last, ok := s.lastState[d.UUID]; ok && last == d.State {
			return false
		}
	}
	return !s.badName(d.Name)
}

// badName reports (and logs once) a domain name no directory can have.
func (s *Shares) badName(name string) bool {
	err := share.ValidName(name)
	if err == nil {
		return false
	}
	if !s.bad[name] {
		s.bad[name] = true
		s.log.Warn("domain gets no share: its name cannot be a directory name", "domain", name, "err", err)
	}
	return true
}

// Existing returns the record already in d's share the first time it is
// asked for d's UUID in this process (false afterwards, and when there is
// none or it is not d's). It is read like every share file: never through
// a symlink, a FIFO or a device (what is refused here, the write refuses
// and reports too).
func (s *Shares) Existing(d *domain.Domain) (*share.Record, bool) {
	if !s.Writes() || s.checked[d.UUID] {
		return nil, false
	}
	s.checked[d.UUID] = true
	rec, err := s.writers[0].ReadRecord(d.Name)
	if err != nil || rec.UUID != d.UUID {
		return nil, false
	}
	return rec, true
}

// Add plans d's share this tick and returns its record for the caller to
// fill (publish.Site.Fill): the record of an earlier tick's write in the
// same slot, whose maps the caller may reuse.
func (s *Shares) Add(d *domain.Domain) *share.Record {
	if n := len(s.writes); n < cap(s.writes) {
		s.writes = s.writes[:n+1]
	} else {
		s.writes = append(s.writes, write{})
	}
	w := &s.writes[len(s.writes)-1]
	w.name, w.uuid, w.state = d.Name, d.UUID, d.State
	return &w.rec
}

// Planned is the number of shares planned this tick.
func (s *Shares) Planned() int { return len(s.writes) }

// Write writes what was planned, over several writers in parallel from
// ParallelFrom shares on, and returns the shares it could not write (the
// slice is reused by the next call). A failed share is written again at
// the next tick it is planned, even if its domain is not running.
func (s *Shares) Write() []Failure {
	s.failures = s.failures[:0]
	ws := s.writes
	if len(ws) == 0 {
		return s.failures
	}
	errs := s.errs[:0]
	for range ws {
		errs = append(errs, nil)
	}
	s.errs = errs
	write := func(wr Writer, i int) {
		w := &ws[i]
		if !s.ensured[w.name] {
			if err := wr.EnsureDir(w.name); err != nil {
				errs[i] = err
				return
			}
		}
		errs[i] = wr.Write(w.name, &w.rec, s.hasDRAM)
	}
	if n := len(s.writers); n > 1 && len(ws) >= ParallelFrom {
		var wg sync.WaitGroup
		for k := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range ws {
					if WriterFor(ws[i].name, n) == k {
						write(s.writers[k], i)
					}
				}
			}()
		}
		wg.Wait()
	} else {
		for i := range ws {
			write(s.writers[WriterFor(ws[i].name, len(s.writers))], i)
		}
	}
	for i := range ws {
		w := &ws[i]
		if errs[i] != nil {
			delete(s.lastState, w.uuid)
			s.failures = append(s.failures, Failure{Name: w.name, Err: errs[i]})
			continue
		}
		s.ensured[w.name] = true
		s.lastState[w.uuid] = w.state
	}
	return s.failures
}

// WriterFor picks the writer, of n, of a domain's share (FNV-1a of its
// name modulo n).
func WriterFor(name string, n int) int {
	if n <= 1 {
		return 0
	}
	h := uint32(2166136261)
	for i := 0; i < len(name); i++ {
		h ^= uint32(name[i])
		h *= 16777619
	}
	return int(h % uint32(n))
}

// Seen notes the domains listed this tick: each name's last-seen time in
// dirs (the state's, by name) becomes now, and what is remembered of
// domains no longer listed is dropped.
func (s *Shares) Seen(now time.Time, doms []domain.Domain, dirs map[string]time.Time) {
	clear(s.uuids)
	s.listed = s.listed[:0]
	for i := range doms {
		s.listed = append(s.listed, doms[i].Name)
		s.uuids[doms[i].UUID] = struct{}{}
		dirs[doms[i].Name] = now
	}
	for uuid := range s.lastState {
		if _, ok := s.uuids[uuid]; !ok {
			delete(s.lastState, uuid)
		}
	}
}

// Prune removes the share directories of domains not listed (Seen) for
// longer than after, by dirs: a directory found on disk without an entry
// starts its clock now, a removed one loses its entry. It looks at most
// once every PruneEvery and reports whether it did, and how many removals
// (or listings) failed; failures are logged on a condition log of their
// own, summarized hourly.
func (s *Shares) Prune(now time.Time, dirs map[string]time.Time, after time.Duration) (looked bool, failed int) {
	if !s.Writes() || now.Sub(s.lastPrune) < PruneEvery {
		return false, 0
	}
	s.lastPrune = now
	if s.pruneLog == nil {
		s.pruneLog = condlog.New(s.log, condlog.Options{Every: time.Hour, Now: s.now, Subject: "domain", Subjects: "domains"})
	}
	defer s.pruneLog.Flush()
	s.pruneLog.OK("prune")
	existing, err := s.writers[0].List()
	if err != nil {
		s.pruneLog.Fail("prune", "", err)
		return true, 1
	}
	clear(s.names) // the set of names listed at the last Seen
	for _, name := range s.listed {
		s.names[name] = struct{}{}
	}
	for _, name := range existing {
		if _, ok := s.names[name]; ok {
			continue
		}
		seen, ok := dirs[name]
		if !ok {
			dirs[name] = now // found on disk: start its clock now
			continue
		}
		if now.Sub(seen) < after {
			continue
		}
		if err := s.writers[0].Remove(name); err != nil {
			// A mount inside it or a path it will not follow: the rest
			// was removed, the directory stays and is retried.
			s.pruneLog.Fail("prune", name, err)
			failed++
			continue
		}
		delete(dirs, name)
		delete(s.ensured, name)
		s.log.Info("pruned share directory of a vanished domain", "domain", name, "last_seen", seen)
	}
	return true, failed
}
