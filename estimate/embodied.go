package estimate

// The reference rack server for embodied (manufacturing) emissions, as
// Cloud Carbon Footprint's coefficients define it (cloud-carbon-coefficients,
// ccfcoef/constants.py, 2022), after Teads' EC2 dataset (B. Davy, 2021),
// both based on Dell's PowerEdge R740 full life-cycle assessment (2019):
// a mono-socket, 16 GB, no local storage commodity rack server is
// ServerBaseKgCO2e; each further socket adds ServerCPUKgCO2e and each GB of
// DRAM above ServerBaseMemoryGB adds ServerDRAMKgCO2ePerGB (533 kgCO2e for
// the R740's 12 × 32 GB DIMMs). Its lifespan is ServerLifetimeYears.
const (
	ServerBaseKgCO2e      = 1000.0
	ServerCPUKgCO2e       = 100.0
	ServerBaseMemoryGB    = 16.0
	ServerDRAMKgCO2ePerGB = 533.0 / 384.0
	ServerLifetimeYears   = 4.0
)

// ServerEmbodiedKgCO2e is a server's embodied emissions from base kgCO2e
// (ServerBaseKgCO2e for the reference server, or an operator's own figure)
// scaled the reference's way: + ServerCPUKgCO2e per socket beyond the
// first and + ServerDRAMKgCO2ePerGB per GB of memory beyond
// ServerBaseMemoryGB. sockets ≤ 0 and memoryGB ≤ 0 mean "not given" and
// add nothing; negative or non-finite base gives 0.
func ServerEmbodiedKgCO2e(base float64, sockets int, memoryGB float64) float64 {
	kg := nonNeg(base)
	if sockets > 1 {
		kg += ServerCPUKgCO2e * float64(sockets-1)
	}
	if m := nonNeg(memoryGB); m > ServerBaseMemoryGB {
		kg += ServerDRAMKgCO2ePerGB * (m - ServerBaseMemoryGB)
	}
	return kg
}

// NanosPerYear is HoursPerYear in nanoseconds.
const NanosPerYear = HoursPerYear * 3600e9
