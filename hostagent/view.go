package hostagent

import (
	"time"

	"github.com/virtwatt/virtwatt/hostagent/domain"
	"github.com/virtwatt/virtwatt/hostagent/view"
)

// storeHostView stores a view of host figures only (a tick that could not
// split): the domains are the last view's.
func (a *Agent) storeHostView(now time.Time, hostPower map[string]float64) {
	prev := a.snap.Load()
	s := a.hostView(now, hostPower, 0)
	if prev != nil {
		s.Domains = prev.Domains
	}
	a.snap.Store(s)
}

// hostView is the host part of this tick's view.
func (a *Agent) hostView(now time.Time, hostPower map[string]float64, domains int) *view.Host {
	s := view.NewHost(now, a.ledger.Totals(), a.cfg.Zones, a.provenanceKey(), domains)
	s.HostPowerW = hostPower
	s.Intensity = a.intensityView()
	s.IdleModel, s.Curves = a.curveView()
	s.Method, s.Model = a.site.Method, a.site.Model
	return s
}

// storeView stores a full view after a split: every listed domain's, and
// those of domains no longer listed, which keep their counters until
// forgotten.
func (a *Agent) storeView(now time.Time, hostPower map[string]float64, doms []domain.Domain) {
	s := a.hostView(now, hostPower, len(a.st.VMs))
	b := &a.tickBuf
	for i := range doms {
		d := &doms[i]
		// a.st.VMs[d.UUID] and power[d.UUID], looked up by splitTick (a
		// listed domain is never forgotten)
		s.AddDomain(d, b.states[i], b.pw[i], b.share[d.UUID])
	}
	for uuid, vm := range a.st.VMs {
		if _, listed := a.split.raw[uuid]; !listed {
			s.AddGone(uuid, vm)
		}
	}
	a.snap.Store(s)
}
