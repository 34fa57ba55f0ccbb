package hostagent

import (
	"sort"
	"time"

	"github.com/virtwatt/virtwatt/hostagent/domain"
	"github.com/virtwatt/virtwatt/hostagent/ledger"
	"github.com/virtwatt/virtwatt/hostagent/view"
)

// storeHostView stores a view of host figures only (a tick that could not split).
func (a *Agent) storeHostView(now time.Time, hostPower map[string]float64) {
	prev := a.snap.Load()
	s := a.hostView(now, hostPower)
	if prev != nil {
		s.Domains = prev.Domains
	}
	a.snap.Store(s)
}

func (a *Agent) hostView(now time.Time, hostPower map[string]float64) *view.Host {
	t := a.ledger.Totals()
	s := &view.Host{
		Time:           now,
		HostPowerW:     hostPower,
		UnattributedUJ: t.UnattributedUJ,
		ForgottenUJ:    t.ForgottenUJ,
		PendingUJ:      t.PendingUJ,
		Zones:          a.cfg.Zones,
		Intensity:      a.intensityView(),
	}
	s.IdleModel, s.Curves = a.curveView()
	s.Method, s.Model = a.site.Method, a.site.Model
	a.embodiedView(s)
	s.HostEnergy = make([]view.ZoneCounter, 0, len(t.HostEnergyUJ))
	for k, v := range t.HostEnergyUJ {
		kind, n := ledger.SplitHostKey(k)
		s.HostEnergy = append(s.HostEnergy, view.ZoneCounter{Kind: kind, Socket: n, EnergyUJ: v})
	}
	s.HostEnergyByProvenance = hostEnergyByProvenance(t.HostEnergyUJ, t.HostEnergyByProvenanceUJ, a.provenanceKey())
	sort.Slice(s.HostEnergy, func(i, j int) bool {
		if s.HostEnergy[i].Kind != s.HostEnergy[j].Kind {
			return s.HostEnergy[i].Kind < s.HostEnergy[j].Kind
		}
		return s.HostEnergy[i].Socket < s.HostEnergy[j].Socket
	})
	return s
}

// storeView stores a full view after a split.
func (a *Agent) storeView(now time.Time, hostPower map[string]float64, doms []domain.Domain) {
	s := a.hostView(now, hostPower)
	s.Domains = make([]view.Domain, 0, len(doms))
	for i := range doms {
		d := &doms[i]
		vm := a.st.VMs[d.UUID]
		if vm == nil {
			continue
		}
		ds := view.Domain{
			UUID: d.UUID, Name: d.Name, State: string(d.State), VCPUs: d.VCPUs, Labels: d.Labels,
			UsageUJ:   make(map[string]uint64, len(a.cfg.Zones)),
			IdleUJ:    make(map[string]uint64, len(a.cfg.Zones)),
			PowerW:    make(map[string]float64, len(a.cfg.Zones)),
			CPUTimeNS: vm.CPUTimeNS,
			CPUShare:  a.tickBuf.share[d.UUID],
		}
		ds.EmbodiedUG, ds.Emissions = vm.EmbodiedUG, vm.Emissions
		for z, w := range a.tickBuf.power[d.UUID] {
			ds.PowerW[z] = w
		}
		for _, z := range a.cfg.Zones {
			ds.UsageUJ[z] = vm.Zones[z].UsageUJ
			ds.IdleUJ[z] = vm.Zones[z].IdleUJ
		}
		ds.ByProvenance = domainByProvenance(vm, a.cfg.Zones, a.provenanceKey(), ds.UsageUJ, ds.IdleUJ)
		s.Domains = append(s.Domains, ds)
	}
	// VMs no longer listed keep their counters (state "gone") until pruned,
	// so that Σ domains + unattributed = host energy holds on the endpoint.
	for uuid, vm := range a.st.VMs {
		if _, listed := a.split.raw[uuid]; listed {
			continue
		}
		ds := view.Domain{
			UUID: uuid, Name: vm.Name, State: "gone", Labels: vm.Labels,
			UsageUJ:   make(map[string]uint64, len(a.cfg.Zones)),
			IdleUJ:    make(map[string]uint64, len(a.cfg.Zones)),
			CPUTimeNS: vm.CPUTimeNS,
		}
		ds.EmbodiedUG, ds.Emissions = vm.EmbodiedUG, vm.Emissions
		for _, z := range a.cfg.Zones {
			ds.UsageUJ[z] = vm.Zones[z].UsageUJ
			ds.IdleUJ[z] = vm.Zones[z].IdleUJ
		}
		ds.ByProvenance = domainByProvenance(vm, a.cfg.Zones, a.provenanceKey(), ds.UsageUJ, ds.IdleUJ)
		s.Domains = append(s.Domains, ds)
	}
	a.snap.Store(s)
}
