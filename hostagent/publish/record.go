// Package publish builds the share records virtwatt-host writes for each
// VM's guest from the VM's counters, taken by value: it reads no file,
// keeps no state and changes nothing. The agent advances sequence numbers
// (and saves them) before it asks for a record, and writes what it gets
// through share.Writer.
package publish

import (
	"time"

	"github.com/virtwatt/virtwatt/estimate"
	"github.com/virtwatt/virtwatt/hostagent/domain"
	"github.com/virtwatt/virtwatt/hostagent/state"
	"github.com/virtwatt/virtwatt/share"
)

// Site is what every record of a host carries: who wrote it, how often,
// and the host's environmental figures.
type Site struct {
	HostName              string
	Interval              time.Duration
	Zones                 []string // counted zones
	PUE, WUE              float64
	CarbonIntensity       float64
	CarbonIntensitySource string    // "" with a CarbonIntensity: "host"
	CarbonIntensityZone   string    // the grid zone of a live source's value
	CarbonIntensityTime   time.Time // when a live source's value was published
	EmbodiedKgCO2e        float64
	LifetimeYears         float64
	// IdleModel is how the energy of the split the record follows divided
	// into idle and usage parts (share.IdleModel*; "" says nothing).
	IdleModel string
	// Provenance of the energy (share.Method*, share.Model*) and the host
	// CPU's model name; RecordSchema is the schema written (0 or
	// share.SchemaVersion: the newest; 1: Downgrade, for old guests).
	Method, Model, CPUModel string
	RecordSchema            int
}

// embodiedSource names how a record's embodied emissions were reckoned.
const embodiedSource = "host: embodied_kgco2e over lifetime_years, by allocated vCPUs"

// VCPUShares is the divisor of each running VM's share of the host's
// embodied emissions: the vCPUs allocated to running domains, or the
// host's CPUs when fewer are allocated (the rest stays with the host).
func VCPUShares(doms []domain.Domain, hostCPUs int) int {
	var allocated int
	for i := range doms {
		if doms[i].State == domain.StateRunning {
			allocated += doms[i].VCPUs
		}
	}
	return max(allocated, hostCPUs, 1)
}

// Record is d's share record at now from vm, its counters (energy since
// vm's instance began, in every counted zone). shares is VCPUShares.
func (s Site) Record(d *domain.Domain, vm state.VM, now time.Time, shares int) share.Record {
	var rec share.Record
	s.Fill(&rec, d, &vm, now, shares)
	return rec
}

// Fill makes *rec the record Record returns, reusing rec's Zones map (the
// rest of rec is overwritten): a tick fills each slot of its writes again
// instead of building a map per VM.
func (s Site) Fill(rec *share.Record, d *domain.Domain, vm *state.VM, now time.Time, shares int) {
	zones := rec.Zones
	if zones == nil {
		zones = make(map[string]share.ZoneEnergy, len(s.Zones))
	}
	clear(zones)
	*rec = share.Record{
		Schema:                share.SchemaVersion,
		Host:                  s.HostName,
		Domain:                d.Name,
		UUID:                  d.UUID,
		Instance:              vm.Instance,
		Sequence:              vm.Sequence,
		Timestamp:             now,
		IntervalSeconds:       s.Interval.Seconds(),
		Zones:                 zones,
		VCPUs:                 d.VCPUs,
		VCPUTimeNS:            vm.VCPUTimeNS,
		CPUTimeNS:             vm.CPUTimeNS,
		PUE:                   s.PUE,
		WUE:                   s.WUE,
		CarbonIntensity:       s.CarbonIntensity,
		CarbonIntensitySource: s.CarbonIntensitySource,
		CarbonIntensityZone:   s.CarbonIntensityZone,
		CarbonIntensityTime:   s.CarbonIntensityTime,
		Labels:                d.Labels,
		IdleModel:             s.IdleModel,
	}
	rec.Method, rec.Model, rec.CPUModel = s.Method, s.Model, s.CPUModel
	if s.CarbonIntensity > 0 && rec.CarbonIntensitySource == "" {
		rec.CarbonIntensitySource = "host"
	}
	for _, z := range s.Zones {
		rec.Zones[ZoneInShare(z)] = vm.SinceInstance(z)
	}
	if s.EmbodiedKgCO2e > 0 && s.LifetimeYears > 0 && d.State == domain.StateRunning {
		rec.EmbodiedGramsPerHour = estimate.EmbodiedGramsPerHour(s.EmbodiedKgCO2e, s.LifetimeYears, float64(d.VCPUs)/float64(max(shares, 1)))
		rec.EmbodiedSource = embodiedSource
	}
	// Schema 2: the embodied emissions charged since the instance began
	// (the guest takes this counter; the rate above is for schema 1).
	if vm.EmbodiedUG > vm.EmbodiedBaseUG {
		rec.EmbodiedUG = vm.EmbodiedUG - vm.EmbodiedBaseUG
		rec.EmbodiedSource = embodiedSource
	}
	if s.RecordSchema == 1 {
		// Refused (left at the newest schema) only for estimated energy,
		// which the agent refuses at start with record_schema 1.
		rec.Downgrade()
	}
}

// ZoneInShare maps a counted zone to the record's zone: psys, the whole
// platform, is published as the package zone so guests see one total.
func ZoneInShare(z string) string {
	if z == "psys" {
		return share.ZonePackage
	}
	return z
}

// Ahead reports whether rec, a record found in a VM's share, is ahead of
// vm, the state's counters of the same instance: a higher sequence, more
// embodied emissions or more energy in some zone than the state would
// publish. Going on from the state would then move the guest's counters
// back. A record of another instance is never ahead.
func Ahead(rec *share.Record, vm *state.VM) bool {
	if rec.Instance != vm.Instance {
		return false
	}
	ahead := rec.Sequence > vm.Sequence || rec.EmbodiedUG > vm.EmbodiedUG-vm.EmbodiedBaseUG
	for z, e := range rec.Zones {
		if e.TotalUJ() > vm.Zones[z].TotalUJ() {
			ahead = true
		}
	}
	return ahead
}
