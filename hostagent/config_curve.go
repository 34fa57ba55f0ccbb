package hostagent

import (
	"flag"
	"math"
	"slices"

	"github.com/virtwatt/virtwatt/hostagent/powercurve"
)

// CurveConfig is a power curve given in the config file, one table per
// counted zone, as `virtwatt-host calibrate --print-config` prints it:
//
//	[power_curve.package]
//	idle_watts = 40.1
//	marginal_watts_per_cpu = 11.9
//
// A configured curve is used like a calibrated one (records say
// idle_model "calibrated") and wins over the state file's.
type CurveConfig struct {
	IdleWatts           float64 `toml:"idle_watts"`
	MarginalWattsPerCPU float64 `toml:"marginal_watts_per_cpu"`
}

func (cc CurveConfig) curve() powercurve.Curve {
	return powercurve.Curve{IdleW: cc.IdleWatts, MarginalW: cc.MarginalWattsPerCPU}
}

// bindCurveFlags registers --idle-model.
func bindCurveFlags(fs *flag.FlagSet, c *Config) {
	fs.StringVar(&c.IdleModel, "idle-model", c.IdleModel,
		"how a tick's energy divides into idle and usage parts: auto (the host's power curve once learned or calibrated, else time), time (by idle CPU time) or curve (the curve as soon as one is usable)")
}

// validateCurve checks idle_model and the [power_curve.<zone>] tables.
func (c Config) validateCurve(bad func(key, format string, args ...any)) {
	switch c.IdleModel {
	case IdleModelAuto, IdleModelTime, IdleModelCurve:
	default:
		bad("idle-model", "%q is not one of auto, time, curve", c.IdleModel)
	}
	for z, cc := range c.PowerCurve {
		// TOML tables: the message names the table and its key (cli.Problems
		// would spell power_curve.<zone>.idle_watts with underscores).
		if !slices.Contains(c.Zones, z) {
			bad("power_curve", "[power_curve.%s]: zone %q is not counted (zones = %v): remove the table or count the zone", z, z, c.Zones)
		}
		if !(cc.IdleWatts > 0) || cc.IdleWatts > 1e6 || math.IsInf(cc.IdleWatts, 0) {
			bad("power_curve", "[power_curve.%s] idle_watts = %v: must be a positive number of watts (at most 1e6)", z, cc.IdleWatts)
		}
		if !(cc.MarginalWattsPerCPU >= 0) || cc.MarginalWattsPerCPU > 1e6 || math.IsInf(cc.MarginalWattsPerCPU, 0) {
			bad("power_curve", "[power_curve.%s] marginal_watts_per_cpu = %v: must be a non-negative number of watts per busy CPU (at most 1e6)", z, cc.MarginalWattsPerCPU)
		}
	}
	if len(c.PowerCurve) > 0 {
		for _, z := range c.Zones {
			if _, ok := c.PowerCurve[z]; !ok {
				bad("power_curve", "has no table for counted zone %q: give every counted zone (%v) a curve, or none", z, c.Zones)
			}
		}
	}
}
