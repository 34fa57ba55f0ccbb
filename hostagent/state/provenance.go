package state

import (
	"fmt"
	"strings"

	"github.com/virtwatt/virtwatt/share"
)

// Provenance keys: the energy counters are also kept by provenance, under
// "method/model" (share.Method*, share.Model*), so that a restart on
// another meter (RAPL became unreadable, or readable again) keeps measured
// energy measured. The invariant, exact to the µJ: for every key k of
// HostEnergyUJ, Σ over provenances of HostEnergyByProvenanceUJ[p][k] =
// HostEnergyUJ[k]; for every VM and zone z, Σ over provenances of
// ZonesByProvenance[p][z] = Zones[z] (usage and idle each). Unattributed
// and forgotten energy are not kept by provenance.

// ProvenanceKey is the state's key of a provenance: "method/model".
func ProvenanceKey(method, model string) string { return method + "/" + model }

// SplitProvenanceKey is ProvenanceKey's inverse.
func SplitProvenanceKey(k string) (method, model string) {
	method, model, _ = strings.Cut(k, "/")
	return method, model
}

// MeterProvenance is the provenance key of the energy a meter of that name
// (Baseline.Meter, meter.Meter.Name) gives: "estimate" estimated by TDP,
// "demo" simulated, anything else (powercap, msr, unknown or none) RAPL.
func MeterProvenance(meterName string) string {
	switch meterName {
	case "estimate":
		return ProvenanceKey(share.MethodEstimated, share.ModelTDP)
	case "demo":
		return ProvenanceKey(share.MethodEstimated, share.ModelDemo)
	}
	return ProvenanceKey(share.MethodMeasured, share.ModelRAPL)
}

// bookOldProvenance books a file from before the by-provenance counters
// (no host_energy_by_provenance_uj) under the provenance of the meter its
// baseline names (RAPL without a baseline): all of its energy came from
// that meter, fixed for the life of the process that wrote it.
func (s *State) bookOldProvenance() {
	if s.HostEnergyByProvenanceUJ != nil {
		return
	}
	name := ""
	if s.Baseline != nil {
		name = s.Baseline.Meter
	}
	p := MeterProvenance(name)
	s.HostEnergyByProvenanceUJ = map[string]map[string]uint64{}
	for k, v := range s.HostEnergyUJ {
		if v == 0 {
			continue
		}
		if s.HostEnergyByProvenanceUJ[p] == nil {
			s.HostEnergyByProvenanceUJ[p] = map[string]uint64{}
		}
		s.HostEnergyByProvenanceUJ[p][k] = v
	}
	for _, vm := range s.VMs {
		if vm == nil || vm.ZonesByProvenance != nil || len(vm.Zones) == 0 {
			continue
		}
		byZone := make(map[string]share.ZoneEnergy, len(vm.Zones))
		for z, e := range vm.Zones {
			byZone[z] = e
		}
		vm.ZonesByProvenance = map[string]map[string]share.ZoneEnergy{p: byZone}
	}
}

// validateProvenance checks the by-provenance counters: keys "method/model",
// each counter bounded, and the sums over provenances equal to the totals.
func (s *State) validateProvenance() error {
	sums := map[string]uint64{}
	for _, p := range sortedKeys(s.HostEnergyByProvenanceUJ) {
		pp := key("host_energy_by_provenance_uj", p)
		if err := checkProvenanceKey(pp, p); err != nil {
			return err
		}
		m := s.HostEnergyByProvenanceUJ[p]
		for _, k := range sortedKeys(m) {
			kp := key(pp, k)
			if err := checkID(kp, k); err != nil {
				return err
			}
			if err := checkCounter(kp, m[k]); err != nil {
				return err
			}
			sums[k] += m[k] // each ≤ 2^63: two never wrap, and a sum above the total is refused below
			if sums[k] > s.HostEnergyUJ[k] {
				return &FieldError{Path: kp, Problem: fmt.Sprintf("brings the by-provenance sum of %s above host_energy_uj[%q] (%d µJ): "+
					"the sum over provenances must equal the total", k, k, s.HostEnergyUJ[k])}
			}
		}
	}
	for _, k := range sortedKeys(s.HostEnergyUJ) {
		if sums[k] != s.HostEnergyUJ[k] {
			return &FieldError{Path: key("host_energy_by_provenance_uj", "*") + key("", k),
				Problem: fmt.Sprintf("sums to %d µJ over provenances, but host_energy_uj[%q] is %d µJ: the sum over provenances must equal the total "+
					"(remove host_energy_by_provenance_uj and every zones_by_provenance to book all energy under the baseline's meter)", sums[k], k, s.HostEnergyUJ[k])}
		}
	}
	for _, uuid := range sortedKeys(s.VMs) {
		if err := s.VMs[uuid].validateProvenance(key("vms", uuid)); err != nil {
			return err
		}
	}
	return nil
}

func (vm *VM) validateProvenance(p string) error {
	sums := map[string]share.ZoneEnergy{}
	for _, pk := range sortedKeys(vm.ZonesByProvenance) {
		pp := p + key(".zones_by_provenance", pk)
		if err := checkProvenanceKey(pp, pk); err != nil {
			return err
		}
		m := vm.ZonesByProvenance[pk]
		for _, z := range sortedKeys(m) {
			zp := key(pp, z)
			if err := checkZone(zp, z, m[z]); err != nil {
				return err
			}
			s, tot := sums[z], vm.Zones[z]
			s.UsageUJ += m[z].UsageUJ
			s.IdleUJ += m[z].IdleUJ
			sums[z] = s
			if s.UsageUJ > tot.UsageUJ || s.IdleUJ > tot.IdleUJ {
				return &FieldError{Path: zp, Problem: fmt.Sprintf("brings the by-provenance sum of zone %s above zones[%q] (%d, %d µJ): "+
					"the sum over provenances must equal the total", z, z, tot.UsageUJ, tot.IdleUJ)}
			}
		}
	}
	for _, z := range sortedKeys(vm.Zones) {
		if s, tot := sums[z], vm.Zones[z]; s != tot {
			return &FieldError{Path: p + ".zones_by_provenance",
				Problem: fmt.Sprintf("sums to (%d, %d µJ) in zone %s, but zones[%q] is (%d, %d µJ): the sum over provenances must equal the total",
					s.UsageUJ, s.IdleUJ, z, z, tot.UsageUJ, tot.IdleUJ)}
		}
	}
	return nil
}

func checkProvenanceKey(p, k string) error {
	method, model := SplitProvenanceKey(k)
	if (method != share.MethodMeasured && method != share.MethodEstimated) || model == "" || len(k) > maxIDLen {
		return &FieldError{Path: p, Problem: fmt.Sprintf("is not a provenance: want %q or %q followed by a model, as in %q",
			share.MethodMeasured+"/", share.MethodEstimated+"/", ProvenanceKey(share.MethodMeasured, share.ModelRAPL))}
	}
	return nil
}
