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
// (584 years), and no server is kept a century.
const maxLifetimeYears = 100

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
}

// EmbodiedTotalKgCO2e is the server's embodied emissions the agent
// amortises: embodied_kgco2e scaled by embodied_sockets and
// embodied_memory_gb the reference's way (estimate.ServerEmbodiedKgCO2e).
func (c Config) EmbodiedTotalKgCO2e() float64 {
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
