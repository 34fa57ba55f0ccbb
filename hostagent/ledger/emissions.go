package ledger

import (
	"math"

	"github.com/virtwatt/virtwatt/estimate"
	"github.com/virtwatt/virtwatt/hostagent/attribution"
	"github.com/virtwatt/virtwatt/hostagent/state"
	"github.com/virtwatt/virtwatt/internal/saturate"
)

// pricing turns the energy each split gives a VM into emissions at the
// price in force, µg CO2e per µJ (PUE × grid intensity). The integer
// counters carry their fractions per VM in memory, so that each stays
// within 1 µg of Σ energy delta × price of its tick (a restart loses at
// most that).
type pricing struct {
	perUJ float64
	carry map[*state.VM]*[2]float64 // dynamic, idle fractions not booked yet
}

// SetPrice sets the price of the energy split from now on: pue (below 1,
// unset, is 1) × gPerKWh, the grid intensity in force. 0, negative or
// non-finite intensity prices energy at nothing.
func (l *Ledger) SetPrice(pue, gPerKWh float64) {
	l.price.perUJ = estimate.EmissionsGrams(1, pue, gPerKWh) * 1e6 / estimate.MicrojoulesPerKWh
}

// charge books the emissions of sh, just given to vm.
func (l *Ledger) charge(vm *state.VM, sh attribution.Share) {
	p := l.price.perUJ
	if !(p > 0) || math.IsInf(p, 0) || sh.TotalUJ() == 0 {
		return
	}
	if l.price.carry == nil {
		l.price.carry = map[*state.VM]*[2]float64{}
	}
	c := l.price.carry[vm]
	if c == nil {
		c = new([2]float64)
		l.price.carry[vm] = c
	}
	vm.Emissions.DynamicUG = book(vm.Emissions.DynamicUG, float64(sh.UsageUJ)*p, &c[0])
	vm.Emissions.IdleUG = book(vm.Emissions.IdleUG, float64(sh.IdleUJ)*p, &c[1])
}

// book adds x µg to counter, carrying the fraction in *frac; the counter
// saturates at state.MaxCounterUG, never wraps.
func book(counter uint64, x float64, frac *float64) uint64 {
	x += *frac
	n := math.Floor(x)
	*frac = x - n
	v, _ := saturate.Add(counter, saturate.FromFloat(n))
	return min(v, state.MaxCounterUG)
}
