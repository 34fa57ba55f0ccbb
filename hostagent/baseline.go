package hostagent

import (
	"time"

	"github.com/virtwatt/virtwatt/hostagent/meter"
	"github.com/virtwatt/virtwatt/hostagent/procstat"
	"github.com/virtwatt/virtwatt/hostagent/state"
)

// maxRestoreGap is the longest downtime over which a restarted agent trusts
// the raw counters saved by its predecessor. Within it, the energy used
// while the agent was down is measured and split like one long tick, so a
// restart loses nothing; beyond it a RAPL counter may have wrapped more than
// once (32-bit MSR counters wrap in minutes at high power), so the agent
// takes fresh baselines and the downtime's energy is not counted.
const maxRestoreGap = time.Minute

// baseline captures the raw readings the last split ended on.
func (a *Agent) baseline(now time.Time, readings []meter.Reading) *state.Baseline {
	b := a.st.Baseline
	if b == nil {
		b = &state.Baseline{}
	}
	b.Time = now
	b.Meter = a.src.Meter.Name()
	b.BusyNS, b.CPUs = a.split.cpu.BusyNS, a.split.cpu.CPUs
	b.Readings = b.Readings[:0]
	for _, r := range readings {
		b.Readings = append(b.Readings, state.Reading{Kind: r.Kind, Socket: r.Socket, EnergyUJ: r.EnergyUJ, MaxRangeUJ: r.MaxRangeUJ})
	}
	if b.Domains == nil {
		b.Domains = map[string][2]uint64{}
	}
	clear(b.Domains)
	for uuid, r := range a.split.raw {
		b.Domains[uuid] = [2]uint64{r.vcpu, r.cpu}
	}
	return b
}

// restore continues from the saved baseline when the agent was down for
// less than maxRestoreGap and reads the same kind of meter.
func (a *Agent) restore(now time.Time) {
	b := a.st.Baseline
	if b == nil || a.src.Meter == nil {
		return
	}
	gap := now.Sub(b.Time)
	switch {
	case b.Meter != a.src.Meter.Name() || b.Meter == "demo" || len(b.Readings) == 0:
		a.log.Info("fresh baselines: the saved ones come from another meter", "saved_meter", b.Meter)
		return
	case gap < 0 || gap > maxRestoreGap:
		a.log.Info("fresh baselines: the agent was down too long to trust the saved counters; that time is not counted",
			"down_for", gap.Round(time.Millisecond), "limit", maxRestoreGap)
		return
	}
	rs := make([]meter.Reading, len(b.Readings))
	for i, r := range b.Readings {
		rs[i] = meter.Reading{Kind: r.Kind, Socket: r.Socket, EnergyUJ: r.EnergyUJ, MaxRangeUJ: r.MaxRangeUJ}
	}
	a.tracker.Update(rs)
	a.lastMeter = b.Time
	a.split.ok = true
	a.split.time = b.Time
	a.split.cpu = procstat.CPU{BusyNS: b.BusyNS, CPUs: b.CPUs}
	for uuid, r := range b.Domains {
		a.split.raw[uuid] = rawTimes{vcpu: r[0], cpu: r[1]}
	}
	a.log.Info("continuing from the saved counters: the downtime is measured and split", "down_for", gap.Round(time.Millisecond))
}
