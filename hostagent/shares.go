package hostagent

import (
	"time"

	"github.com/virtwatt/virtwatt/hostagent/domain"
	"github.com/virtwatt/virtwatt/hostagent/publish"
	"github.com/virtwatt/virtwatt/hostagent/state"
	"github.com/virtwatt/virtwatt/share"
)

// planShares decides which shares this tick writes (fanout.Shares.Due) and
// builds their records (publish). Sequences are advanced here, before the
// state file is saved, so that a restart never reuses a number a guest has
// seen.
func (a *Agent) planShares(now time.Time, doms []domain.Domain) {
	a.shares.Begin()
	if !a.shares.Writes() {
		return
	}
	shares := publish.VCPUShares(doms, a.split.cpu.CPUs)
	for i := range doms {
		d := &doms[i]
		if !a.shares.Due(d) {
			continue
		}
		vm := a.tickBuf.states[i] // splitTick's a.vmState(d)
		if rec, ok := a.shares.Existing(d); ok {
			a.checkExisting(d, vm, rec)
		}
		vm.Sequence++
		a.site.Fill(a.shares.Add(d), d, vm, now, shares)
	}
}

// checkExisting compares rec, the record already in a domain's share, with
// the state, once per process: if the share is ahead (the state file could
// not be saved for a while, a disk was full, an old state was restored),
// going on from the state would move the guest's counters back, so the
// domain gets a new instance id and guests start a new baseline instead.
func (a *Agent) checkExisting(d *domain.Domain, vm *state.VM, rec *share.Record) {
	if !publish.Ahead(rec, vm) {
		return
	}
	old := vm.Instance
	vm.Instance = newInstanceID()
	a.ledger.Rebase(vm) // the new instance counts from zero
	a.log.Warn("the share is ahead of the state file: starting a new instance so that no counter goes back",
		"domain", d.Name, "old_instance", old, "instance", vm.Instance, "share_sequence", rec.Sequence, "state_sequence", vm.Sequence)
}

// writeShares writes what planShares decided. A failed write is counted and
// retried at the next tick (its sequence number is skipped).
func (a *Agent) writeShares() {
	if a.shares.Planned() == 0 {
		return
	}
	failures := a.shares.Write()
	a.cond.OK("share")
	for _, f := range failures {
		a.failFor("share", f.Name, f.Err)
	}
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
