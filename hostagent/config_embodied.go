package hostagent

import (
	"flag"
	"math"

	"github.com/virtwatt/virtwatt/estimate"
	"github.com/virtwatt/virtwatt/internal/saturate"
)

// The defaults: the reference rack server over its reference lifespan.
const (
	defaultEmbodiedKgCO2e = estimate.ServerBaseKgCO2e
	defaultLifetimeYears  = estimate.ServerLifetimeYears
)

// maxLifetimeYears bounds lifetime_years: a lifetime in ns must fit 64 bits
// (584 years), and no server is kept a century. minLifetimeYears (a day)
// keeps the lifetime in ns far from 0, which the state file refuses with
// a total to amortise.
const (
	maxLifetimeYears = 100
	minLifetimeYears = 24 / estimate.HoursPerYear
)

// maxEmbodiedKgCO2e bounds the scaled embodied total: 1,000 t CO2e, a
// thousand reference servers, far below what the state's µg counters hold
// (2^63 µg, 9.2 million t).
const maxEmbodiedKgCO2e = 1e6

// bindEmbodiedFlags registers the flags that scale the embodied figure.
func bindEmbodiedFlags(fs *flag.FlagSet, c *Config) {
	fs.IntVar(&c.EmbodiedSockets, "embodied-sockets", c.EmbodiedSockets,
		"CPU sockets of the server: each beyond the first adds 100 kgCO2e to --embodied-kgco2e (0: not given)")
	fs.Float64Var(&c.EmbodiedMemoryGB, "embodied-memory-gb", c.EmbodiedMemoryGB,
		"GB of DRAM of the server: each beyond 16 adds 533/384 kgCO2e to --embodied-kgco2e (0: not given)")
}

// validateEmbodied checks the embodied keys.
func (c Config) validateEmbodied(bad func(key, format string, args ...any)) {
	if c.EmbodiedSockets < 0 || c.EmbodiedSockets > 1024 {
		bad("embodied-sockets", "%d must be between 0 (not given) and 1024", c.EmbodiedSockets)
	}
	if m := c.EmbodiedMemoryGB; !(m >= 0) || m > 1<<30 {
		bad("embodied-memory-gb", "%v must be between 0 (not given) and 2^30 GB", m)
	}
	if y := c.LifetimeYears; c.EmbodiedKgCO2e > 0 && (math.IsNaN(y) || y > maxLifetimeYears) {
		bad("lifetime-years", "%v must be at most %d", y, maxLifetimeYears)
	}
	if y := c.LifetimeYears; c.EmbodiedKgCO2e > 0 && y > 0 && y < minLifetimeYears {
		bad("lifetime-years", "%v is under a day (%.5f years): no server is written off that fast", y, minLifetimeYears)
	}
	if kg := c.EmbodiedKgCO2e; math.IsInf(kg, 0) || c.EmbodiedTotalKgCO2e() > maxEmbodiedKgCO2e {
		bad("embodied-kgco2e", "%v (scaled by embodied_sockets and embodied_memory_gb: %v) must be at most %g kgCO2e for one server",
			kg, c.EmbodiedTotalKgCO2e(), float64(maxEmbodiedKgCO2e))
	}
}

// EmbodiedTotalKgCO2e is the server's embodied emissions the agent
// amortises: embodied_kgco2e scaled by embodied_sockets and
// embodied_memory_gb the reference's way (estimate.ServerEmbodiedKgCO2e).
// embodied_kgco2e = 0 turns it off, whatever the scaling keys say.
func (c Config) EmbodiedTotalKgCO2e() float64 {
	if !(c.EmbodiedKgCO2e > 0) {
		return 0
	}
	return estimate.ServerEmbodiedKgCO2e(c.EmbodiedKgCO2e, c.EmbodiedSockets, c.EmbodiedMemoryGB)
}

// embodiedFigures are the ledger's figures: the total in µg CO2e and the
// lifetime in ns (both 0: embodied emissions off).
func (c Config) embodiedFigures() (totalUG, lifetimeNS uint64) {
	kg := c.EmbodiedTotalKgCO2e()
	if !(kg > 0) || !(c.LifetimeYears > 0) {
		return 0, 0
	}
	return saturate.FromFloat(math.Round(kg * 1e9)), saturate.FromFloat(math.Round(c.LifetimeYears * estimate.NanosPerYear))
}
