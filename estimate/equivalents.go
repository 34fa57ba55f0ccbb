package estimate

// Factors behind Equivalents. Each is a published figure or a unit
// conversion of one; none depends on the grid the energy came from except
// where the factor itself is in grams.
const (
	// CarGramsPerKm: EPA Greenhouse Gas Equivalencies Calculator
	// ("calculations and references"), average gasoline passenger vehicle,
	// 3.93 × 10⁻⁴ t CO2e per mile = 393 g/mile ÷ 1.609344 km/mile.
	CarGramsPerKm = 393 / 1.609344
	// SmartphoneKWhPerCharge: EPA Greenhouse Gas Equivalencies Calculator,
	// smartphone charged: (14.46 Wh per 24 h − 22 h × 0.13 W maintenance) ≈
	// 0.012 kWh per full charge (energy, so independent of the grid).
	SmartphoneKWhPerCharge = 0.012
	// TVGramsPerHour: 0.097 kgCO2e per hour of a 32-inch LCD TV, the
	// constant of CodeCarbon's dashboard.
	TVGramsPerHour = 97.0
	// TreeGramsPerDay: EPA Greenhouse Gas Equivalencies Calculator, an urban
	// tree seedling grown for 10 years sequesters 0.060 t CO2; spread evenly
	// over 10 × 365.25 days ≈ 16.4 g per tree-day.
	TreeGramsPerDay = 60000 / (10 * 365.25)
)

// Equivalent is an everyday quantity with the same emissions or energy.
type Equivalent struct {
	Name   string  // stable identifier, e.g. "car_km"
	Value  float64 // how many Units
	Unit   string  // e.g. "km"
	Source string  // where the factor comes from
}

// Equivalents expresses grams of CO2e and kwh of energy as everyday
// quantities: kilometres driven, smartphone charges, hours of TV and
// tree-days of absorption. Each value is linear in its input; negative or
// non-finite inputs count as 0.
func Equivalents(grams, kwh float64) []Equivalent {
	g, e := nonNeg(grams), nonNeg(kwh)
	return []Equivalent{
		{Name: "car_km", Value: g / CarGramsPerKm, Unit: "km",
			Source: "EPA GHG Equivalencies Calculator: average passenger vehicle, 393 gCO2e/mile"},
		{Name: "smartphone_charges", Value: e / SmartphoneKWhPerCharge, Unit: "charges",
			Source: "EPA GHG Equivalencies Calculator: 0.012 kWh per smartphone charge"},
		{Name: "tv_hours", Value: g / TVGramsPerHour, Unit: "h",
			Source: "CodeCarbon dashboard: 32-inch LCD TV, 0.097 kgCO2e/h"},
		{Name: "tree_days", Value: g / TreeGramsPerDay, Unit: "tree-days",
			Source: "EPA GHG Equivalencies Calculator: urban tree seedling, 0.060 tCO2 over 10 years"},
	}
}
