package estimate

import "math"

// MicrojoulesPerKWh is 1 kWh in µJ: 3.6e6 J × 1e6.
const MicrojoulesPerKWh = 3.6e12

// HoursPerYear is the mean (Julian) year, 365.25 × 24 h.
const HoursPerYear = 8766.0

// KWh converts microjoules to kilowatt-hours.
func KWh(uj uint64) float64 { return float64(uj) / MicrojoulesPerKWh }

// EmissionsGrams returns gCO2e for kwh of IT energy in a facility with the
// given PUE on a grid of gPerKWh: kwh × pue × gPerKWh. A PUE below 1
// (including 0, "unset") is taken as 1, since a facility cannot use less
// energy than its IT load; negative or non-finite energy or intensity give 0.
func EmissionsGrams(kwh, pue, gPerKWh float64) float64 {
	if !(pue >= 1) || math.IsInf(pue, 0) {
		pue = 1
	}
	return nonNeg(kwh) * pue * nonNeg(gPerKWh)
}

// WaterLiters returns the data-centre water use for kwh of IT energy at a
// water usage effectiveness of wue L/kWh: kwh × wue. PUE does not apply: The
// Green Grid defines WUE as site water per kWh of IT energy, so it already
// folds in the facility overhead. Negative or non-finite inputs give 0.
func WaterLiters(kwh, wue float64) float64 {
	return nonNeg(kwh) * nonNeg(wue)
}

// EmbodiedGramsPerHour spreads a machine's embodied (manufacturing)
// emissions of totalKgCO2e evenly over lifetimeYears (of HoursPerYear) and
// returns share of it, in gCO2e per hour: total × 1000 / (years × 8766) ×
// share. share is the fraction attributed to one tenant (e.g. its vCPUs
// over the host's CPUs) and is clamped to [0, 1]. A lifetime ≤ 0 or
// invalid input gives 0.
func EmbodiedGramsPerHour(totalKgCO2e, lifetimeYears, share float64) float64 {
	if !(lifetimeYears > 0) || math.IsInf(lifetimeYears, 0) {
		return 0
	}
	share = math.Min(nonNeg(share), 1)
	return nonNeg(totalKgCO2e) * 1000 / (lifetimeYears * HoursPerYear) * share
}

// nonNeg returns x, or 0 when x is negative, NaN or infinite.
func nonNeg(x float64) float64 {
	if !(x > 0) || math.IsInf(x, 0) {
		return 0
	}
	return x
}
