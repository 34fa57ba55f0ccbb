package ledger

import (
	"fmt"
	"time"

	"github.com/virtwatt/virtwatt/hostagent/attribution"
	"github.com/virtwatt/virtwatt/hostagent/state"
	"github.com/virtwatt/virtwatt/internal/saturate"
)

// embodiedPolicy splits embodied emissions: all of it is "idle" (no
// usage time is given), shared by allocated vCPUs over max(Σ allocated,
// host CPUs); what no VM gets is the host's.
var embodiedPolicy = attribution.Policy{Idle: attribution.IdleVCPUs, Overhead: attribution.OverheadVM}

// embodied is the ledger's part for embodied emissions: the splitter that
// carries each VM's rounding, and its per-tick buffer.
type embodied struct {
	splitter *attribution.ZoneSplitter
	vms      []attribution.VM
}

func (l *Ledger) embodiedState() *state.Embodied {
	if l.st.Embodied == nil {
		l.st.Embodied = &state.Embodied{}
	}
	return l.st.Embodied
}

// SetEmbodied sets the server's embodied emissions, totalUG µg CO2e,
// amortised over lifetimeNS. When the state was amortising other figures,
// a new epoch begins: what was amortised so far stays (BaseUG) and the
// time restarts at 0, so the amortised total never goes back. It reports
// whether an epoch with other figures (and time accounted) was replaced.
func (l *Ledger) SetEmbodied(totalUG, lifetimeNS uint64) bool {
	e := l.embodiedState()
	if e.TotalUG == totalUG && e.LifetimeNS == lifetimeNS {
		return false
	}
	replaced := e.ElapsedNS != 0
	e.BaseUG = e.Amortised()
	e.TotalUG, e.LifetimeNS, e.ElapsedNS = totalUG, lifetimeNS, 0
	return replaced
}

// NewEmbodiedEpoch starts the current figures' amortisation over at 0
// elapsed (another server took over the state): what was amortised so far
// stays (BaseUG), so the total never goes back. It reports whether any
// time had been accounted.
func (l *Ledger) NewEmbodiedEpoch() bool {
	e := l.embodiedState()
	if e.ElapsedNS == 0 {
		return false
	}
	e.BaseUG, e.ElapsedNS = e.Amortised(), 0
	return true
}

// Embody amortises elapsed more of the server's embodied emissions and
// charges what that adds (the amortised total after minus before, so that
// nothing drifts however the time is cut into ticks) to vms: vms[i] (keyed
// keys[i]) gets it by its allocated vCPUs over max(Σ allocated, hostCPUs),
// where only avms[i].VCPUs counts (0 for a VM that is not running); the
// rest is the host's. A result that does not add up (a splitter bug) goes
// to the host whole, and the error says so.
func (l *Ledger) Embody(elapsed time.Duration, hostCPUs int, avms []attribution.VM, keys []string, vms []*state.VM) error {
	e := l.embodiedState()
	if elapsed <= 0 || e.LifetimeNS == 0 {
		return nil
	}
	before := e.Amortised()
	e.ElapsedNS, _ = saturate.Add(e.ElapsedNS, uint64(elapsed))
	delta := e.Amortised() - before
	if delta == 0 {
		return nil
	}
	l.emb.vms = l.emb.vms[:0]
	for _, v := range avms {
		l.emb.vms = append(l.emb.vms, attribution.VM{VCPUs: v.VCPUs})
	}
	res := l.emb.splitter.Split(attribution.Tick{EnergyUJ: delta, CapacityNS: 1, HostCPUs: hostCPUs, VMs: l.emb.vms}, keys)
	given, ok := sumShares(res, len(vms))
	if !ok || given > delta || delta-given != res.HostUJ {
		e.HostUG += delta
		return fmt.Errorf("ledger: embodied split gives %d µg to %d VMs (of %d) and %d µg to the host, not the %d µg amortised; all of it goes to the host",
			given, len(res.VMs), len(vms), res.HostUJ, delta)
	}
	e.HostUG += delta - given
	for i, sh := range res.VMs {
		vms[i].EmbodiedUG += sh.TotalUJ()
	}
	return nil
}

// sumShares is Σ res.VMs' totals; ok is false when res does not have n VMs or
// the sum wraps.
func sumShares(res attribution.Result, n int) (sum uint64, ok bool) {
	if len(res.VMs) != n {
		return 0, false
	}
	for _, sh := range res.VMs {
		t := sh.UsageUJ + sh.IdleUJ
		if t < sh.UsageUJ || sum+t < sum {
			return sum, false
		}
		sum += t
	}
	return sum, true
}

// EmbodiedAmortisedFully reports whether the current epoch's lifetime is
// over: its whole total is amortised and no more is charged.
func (l *Ledger) EmbodiedAmortisedFully() bool {
	e := l.st.Embodied
	return e != nil && e.LifetimeNS != 0 && e.ElapsedNS >= e.LifetimeNS
}
