package hostagent

import (
	"math"

	"github.com/virtwatt/virtwatt/estimate"
	"github.com/virtwatt/virtwatt/hostagent/meter"
	"github.com/virtwatt/virtwatt/share"
)

// validateEstimate checks the estimating meter's keys and record_schema.
// Whether record_schema 1 can be written depends on the meter opened, and
// is checked at start (checkRecordSchema).
func (c Config) validateEstimate(bad func(key, format string, args ...any)) {
	if f := c.EstimateIdleFraction; !(f >= 0 && f <= 1) {
		bad("estimate.idle-fraction", "%v must be between 0 and 1 (P_idle / P_max; default %.4f)", f, estimate.DefaultIdleFraction)
	}
	if w := c.EstimateWattsPerThread; !(w > 0) || math.IsInf(w, 1) || w > 1000 {
		bad("estimate.watts-per-thread", "%v must be a positive number of watts, at most 1000 (default %v)", w, estimate.DefaultWattsPerThread)
	}
	if w := c.EstimateDRAMWattsPerGB; !(w >= 0) || w > 100 {
		bad("estimate.dram-watts-per-gb", "%v must be between 0 and 100 W/GB (default %v; 0 counts no DRAM)", w, estimate.DefaultDRAMWattsPerGB)
	}
	if w := c.EstimateTDPWatts; !(w >= 0) || w > 10000 {
		bad("estimate.tdp-watts", "%v must be between 0 (from the table) and 10000 W per socket", w)
	}
	if c.RecordSchema < share.MinSchemaVersion || c.RecordSchema > share.SchemaVersion {
		bad("record-schema", "%d is not a schema this build writes (%d..%d)", c.RecordSchema, share.MinSchemaVersion, share.SchemaVersion)
	}
	if c.RecordSchema < 2 && c.Meter == meter.OpenEstimate {
		bad("record-schema", "1 cannot carry estimated energy (meter = \"estimate\"): schema-1 guests would read it as measured; "+
			"set record_schema = 2 and upgrade the guests, or use a RAPL meter")
	}
}

// EstimateParams are the estimating meter's figures from c's estimate_* keys.
func (c Config) EstimateParams() estimate.HostPowerParams {
	return estimate.HostPowerParams{IdleFraction: c.EstimateIdleFraction, WattsPerThread: c.EstimateWattsPerThread,
		DRAMWattsPerGB: c.EstimateDRAMWattsPerGB, TDPWatts: c.EstimateTDPWatts}
}

// estimateOptions are the estimating meter's options from c.
func (c Config) estimateOptions() meter.EstimateOptions {
	o := meter.DefaultEstimateOptions(c.ProcRoot)
	o.Params = c.EstimateParams()
	return o
}
