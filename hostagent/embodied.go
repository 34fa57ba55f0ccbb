package hostagent

import (
	"time"
)

// startEmbodied gives the ledger the configured embodied figures; a state
// that amortised other figures keeps what it amortised (ledger.SetEmbodied).
//
// A state saved on another machine amortised that server's age: this one
// starts its own lifetime (a new epoch; what was amortised stays).
func (a *Agent) startEmbodied() {
	total, life := a.cfg.embodiedFigures()
	if a.stateFromAnotherMachine() && a.ledger.NewEmbodiedEpoch() {
		a.log.Info("embodied emissions: the state file was saved on another machine; this server's lifetime starts now (what was amortised stays)")
	}
	if a.ledger.SetEmbodied(total, life) {
		a.log.Info("embodied emissions: the figures changed since the state was saved; what was amortised stays, the rest is amortised at the new rate",
			"embodied_kgco2e", a.cfg.EmbodiedTotalKgCO2e(), "lifetime_years", a.cfg.LifetimeYears)
	}
	a.endEmbodiedRate()
}

// priceTick sets the price of the energy this split gives VMs: the PUE
// and the grid intensity in force at this tick (the one its records carry).
func (a *Agent) priceTick() { a.ledger.SetPrice(a.site.PUE, a.site.CarbonIntensity) }

// embodyTick charges the embodied emissions amortised over elapsed to the
// tick's domains by allocated vCPUs (tickBuf: b.vms counts only running
// domains' vCPUs).
func (a *Agent) embodyTick(elapsed time.Duration, hostCPUs int) {
	b := &a.tickBuf
	if err := a.ledger.Embody(elapsed, hostCPUs, b.vms, b.keys, b.states); err != nil {
		a.log.Error("embodied split refused", "err", err)
	}
	a.endEmbodiedRate()
}

// endEmbodiedRate stops the records' embodied_g_per_hour (the rate a
// schema-1 guest integrates) once the server's lifetime is amortised: no
// more is charged, so no rate may be advertised. Said once.
func (a *Agent) endEmbodiedRate() {
	if a.site.EmbodiedKgCO2e == 0 || !a.ledger.EmbodiedAmortisedFully() {
		return
	}
	a.site.EmbodiedKgCO2e = 0
	a.log.Info("embodied emissions fully amortised: the server has outlived lifetime_years; no more is charged to VMs",
		"lifetime_years", a.cfg.LifetimeYears)
}
