package state

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/virtwatt/virtwatt/share"
)

// Bounds of a valid state. None is reachable by an honest agent; each keeps
// the arithmetic done on the loaded values from ever wrapping.
const (
	// MaxCounterUJ bounds every energy counter: 2^63 µJ is 9.2 TJ, 29
	// years of a 10 kW host on one zone, and usage + idle cannot overflow.
	MaxCounterUJ = 1 << 63
	// MaxSequence bounds a VM's record sequence, which grows by one per
	// write: at one write per 10 ms it takes 2.9 billion years to get here,
	// so a larger value is corruption, and refusing it means the +1 of the
	// next write never wraps to 0 (which a guest would read as a restart).
	MaxSequence = 1 << 63
	// maxIDLen bounds identifiers (UUIDs, instance ids, zone kinds, host
	// keys, boot and machine ids): real ones are under 64 bytes.
	maxIDLen = 256
	// maxTextLen bounds names and label values.
	maxTextLen = 4096
	// maxLabels bounds a VM's labels (the agent keeps at most 16).
	maxLabels = 256
	// maxSocket bounds a reading's socket index.
	maxSocket = 1 << 16
)

// Validate checks everything a loaded state must satisfy before the agent
// uses it, and names the first field at fault (fields are checked in a
// stable order):
//   - version is Version (0 means the field is missing);
//   - every time can be written back (years 0 to 9999);
//   - every energy counter is at most MaxCounterUJ, a zone's usage + idle
//     does not overflow, and a VM's instance base is not above its counters
//     (a record publishes the difference);
//   - every map key is a non-empty, bounded identifier; share directory
//     names (dirs) are valid names (share.ValidName);
//   - every VM entry is an object with an instance id, a zones object and
//     a sequence of at most MaxSequence;
//   - baseline readings name a zone kind, a socket in range, and no
//     (kind, socket) pair twice; cpus is not negative;
//   - emissions counters are at most MaxCounterUG, a VM's embodied instance
//     base is not above its counter, and the embodied counters add up:
//     Σ VMs + host + forgotten = the amortised total (Embodied.Amortised);
//   - the energy counters by provenance add up to the totals, key by key
//     (provenance.go).
func (s *State) Validate() error {
	if s == nil {
		return &FieldError{Problem: "is null, want a JSON object"}
	}
	switch {
	case s.Version == 0:
		return &FieldError{Path: "version", Problem: "is missing (or 0): not a virtwatt-host state file"}
	case s.Version != Version:
		return &FieldError{Path: "version", Problem: fmt.Sprintf("is %d; this build reads version %d (was the file written by another virtwatt-host release?)", s.Version, Version)}
	}
	if err := checkTime("saved_at", s.SavedAt); err != nil {
		return err
	}
	for _, m := range []struct {
		name string
		m    map[string]uint64
	}{{"host_energy_uj", s.HostEnergyUJ}, {"unattributed_uj", s.UnattributedUJ}, {"forgotten_uj", s.ForgottenUJ}} {
		for _, k := range sortedKeys(m.m) {
			p := key(m.name, k)
			if err := checkID(p, k); err != nil {
				return err
			}
			if err := checkCounter(p, m.m[k]); err != nil {
				return err
			}
		}
	}
	for _, uuid := range sortedKeys(s.VMs) {
		if err := validateVM(key("vms", uuid), uuid, s.VMs[uuid]); err != nil {
			return err
		}
	}
	for _, name := range sortedKeys(s.Dirs) {
		p := key("dirs", name)
		if err := share.ValidName(name); err != nil {
			return &FieldError{Path: p, Problem: "is not a valid share directory name: " + err.Error()}
		}
		if err := checkTime(p, s.Dirs[name]); err != nil {
			return err
		}
	}
	if s.Baseline != nil {
		if err := s.Baseline.validate("baseline"); err != nil {
			return err
		}
	}
	if err := s.validatePowerCurve(); err != nil {
		return err
	}
	if err := s.validateProvenance(); err != nil { // provenance.go
		return err
	}
	return s.validateEmbodied()
}

// validateEmbodied checks the embodied counters: each at most MaxCounterUG,
// a lifetime wherever something is to be amortised, and Σ VMs + host +
// forgotten equal to the amortised total (the ledger's invariant; a file
// that breaks it was not written by the agent).
func (s *State) validateEmbodied() error {
	e := s.Embodied
	var sum uint64
	for _, uuid := range sortedKeys(s.VMs) {
		sum += s.VMs[uuid].EmbodiedUG // each ≤ 2^63 and sum checked below: no wrap before the check fires
		if sum > MaxCounterUG {
			return &FieldError{Path: key("vms", uuid) + ".embodied_ug", Problem: fmt.Sprintf("brings the VMs' embodied emissions above %d µg", uint64(MaxCounterUG))}
		}
	}
	if e == nil {
		if sum != 0 {
			return &FieldError{Path: "embodied", Problem: fmt.Sprintf("is missing, but the VMs were charged %d µg of embodied emissions: "+
				"the file was not written by virtwatt-host", sum)}
		}
		return nil
	}
	for _, f := range []struct {
		name string
		v    uint64
	}{{"total_ug", e.TotalUG}, {"base_ug", e.BaseUG}, {"host_ug", e.HostUG}, {"forgotten_ug", e.ForgottenUG}} {
		if f.v > MaxCounterUG {
			return &FieldError{Path: "embodied." + f.name, Problem: fmt.Sprintf("is %d µg, above %d (9.2 million tonnes CO2e)", f.v, uint64(MaxCounterUG))}
		}
	}
	if e.LifetimeNS == 0 && e.TotalUG != 0 {
		return &FieldError{Path: "embodied.lifetime_ns", Problem: "is 0 with a total_ug to amortise: set the server's lifetime (lifetime_years) or move the file aside"}
	}
	if e.HostUG > MaxCounterUG-e.ForgottenUG || sum > MaxCounterUG-e.HostUG-e.ForgottenUG {
		return &FieldError{Path: "embodied", Problem: "VMs + host_ug + forgotten_ug overflow"}
	}
	if got, want := sum+e.HostUG+e.ForgottenUG, e.Amortised(); got != want {
		return &FieldError{Path: "embodied", Problem: fmt.Sprintf("Σ vms embodied_ug (%d) + host_ug (%d) + forgotten_ug (%d) = %d µg, but base_ug + total_ug × elapsed_ns / lifetime_ns = %d µg: "+
			"the counters do not add up", sum, e.HostUG, e.ForgottenUG, got, want)}
	}
	return nil
}

func validateVM(p, uuid string, vm *VM) error {
	if err := checkID(p, uuid); err != nil {
		return err
	}
	if vm == nil {
		return &FieldError{Path: p, Problem: "is null, want a domain's counters"}
	}
	if vm.Instance == "" {
		return &FieldError{Path: p + ".instance", Problem: "is empty: every domain's counters belong to an instance"}
	}
	if err := checkID(p+".instance", vm.Instance); err != nil {
		return err
	}
	if err := checkText(p+".name", vm.Name); err != nil {
		return err
	}
	if vm.Sequence > MaxSequence {
		return &FieldError{Path: p + ".sequence", Problem: fmt.Sprintf("is %d, above %d: no honest writer gets there, and the next write would wrap", vm.Sequence, uint64(MaxSequence))}
	}
	if vm.Zones == nil {
		return &FieldError{Path: p + ".zones", Problem: "is missing or null, want an object of zone counters"}
	}
	for _, z := range sortedKeys(vm.Zones) {
		zp := p + key(".zones", z)
		if err := checkZone(zp, z, vm.Zones[z]); err != nil {
			return err
		}
	}
	for _, z := range sortedKeys(vm.Base) {
		bp := p + key(".instance_base", z)
		b, cur := vm.Base[z], vm.Zones[z]
		if err := checkZone(bp, z, b); err != nil {
			return err
		}
		if b.UsageUJ > cur.UsageUJ || b.IdleUJ > cur.IdleUJ {
			return &FieldError{Path: bp, Problem: fmt.Sprintf("(%d, %d µJ) is above the counters it is subtracted from (%d, %d µJ): "+
				"the record would publish negative energy", b.UsageUJ, b.IdleUJ, cur.UsageUJ, cur.IdleUJ)}
		}
	}
	if err := checkTime(p+".last_seen", vm.LastSeen); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		v    uint64
	}{{".embodied_ug", vm.EmbodiedUG}, {".instance_base_embodied_ug", vm.EmbodiedBaseUG}, {".emissions_ug.dynamic", vm.Emissions.DynamicUG}, {".emissions_ug.idle", vm.Emissions.IdleUG}} {
		if f.v > MaxCounterUG {
			return &FieldError{Path: p + f.name, Problem: fmt.Sprintf("is %d µg, above %d: no host emits that much, and adding to it would wrap", f.v, uint64(MaxCounterUG))}
		}
	}
	if vm.EmbodiedBaseUG > vm.EmbodiedUG {
		return &FieldError{Path: p + ".instance_base_embodied_ug", Problem: fmt.Sprintf("(%d µg) is above embodied_ug (%d µg), which it is subtracted from: "+
			"the record would publish negative emissions", vm.EmbodiedBaseUG, vm.EmbodiedUG)}
	}
	if len(vm.Labels) > maxLabels {
		return &FieldError{Path: p + ".labels", Problem: fmt.Sprintf("has %d labels, at most %d", len(vm.Labels), maxLabels)}
	}
	for _, k := range sortedKeys(vm.Labels) {
		lp := p + key(".labels", k)
		if err := checkID(lp, k); err != nil {
			return err
		}
		if err := checkText(lp, vm.Labels[k]); err != nil {
			return err
		}
	}
	return nil
}

func checkZone(p, name string, z share.ZoneEnergy) error {
	if err := checkID(p, name); err != nil {
		return err
	}
	if err := checkCounter(p+".usage_uj", z.UsageUJ); err != nil {
		return err
	}
	if err := checkCounter(p+".idle_uj", z.IdleUJ); err != nil {
		return err
	}
	if z.UsageUJ > math.MaxUint64-z.IdleUJ {
		return &FieldError{Path: p, Problem: "usage_uj + idle_uj overflows 64 bits"}
	}
	return nil
}

func (b *Baseline) validate(p string) error {
	if err := checkTime(p+".time", b.Time); err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{
		{"meter", b.Meter}, {"boot_id", b.BootID}, {"host_name", b.HostName}, {"machine_id", b.MachineID},
	} {
		if len(f.v) > maxIDLen {
			return &FieldError{Path: p + "." + f.name, Problem: fmt.Sprintf("is %d bytes long, at most %d", len(f.v), maxIDLen)}
		}
	}
	if b.CPUs < 0 {
		return &FieldError{Path: p + ".cpus", Problem: fmt.Sprintf("is negative (%d)", b.CPUs)}
	}
	type zone struct {
		kind   string
		socket int
	}
	seen := map[zone]bool{}
	for i, r := range b.Readings {
		rp := p + ".readings[" + strconv.Itoa(i) + "]"
		if r.Kind == "" {
			return &FieldError{Path: rp + ".kind", Problem: "is empty"}
		}
		if err := checkID(rp+".kind", r.Kind); err != nil {
			return err
		}
		if r.Socket < 0 || r.Socket > maxSocket {
			return &FieldError{Path: rp + ".socket", Problem: fmt.Sprintf("is %d, want 0 to %d", r.Socket, maxSocket)}
		}
		if seen[zone{r.Kind, r.Socket}] {
			return &FieldError{Path: rp, Problem: fmt.Sprintf("repeats zone %s of socket %d", r.Kind, r.Socket)}
		}
		seen[zone{r.Kind, r.Socket}] = true
	}
	for _, uuid := range sortedKeys(b.Domains) {
		if err := checkID(key(p+".domains", uuid), uuid); err != nil {
			return err
		}
	}
	return nil
}

// key is the path of entry k of the map at p.
func key(p, k string) string { return p + "[" + strconv.Quote(k) + "]" }

func checkID(p, s string) error {
	switch {
	case s == "":
		return &FieldError{Path: p, Problem: "has an empty key or identifier"}
	case len(s) > maxIDLen:
		return &FieldError{Path: p, Problem: fmt.Sprintf("has an identifier of %d bytes, at most %d", len(s), maxIDLen)}
	}
	return checkText(p, s)
}

func checkText(p, s string) error {
	if len(s) > maxTextLen {
		return &FieldError{Path: p, Problem: fmt.Sprintf("is %d bytes long, at most %d", len(s), maxTextLen)}
	}
	if !utf8.ValidString(s) {
		return &FieldError{Path: p, Problem: "is not valid UTF-8"}
	}
	return nil
}

func checkCounter(p string, v uint64) error {
	if v > MaxCounterUJ {
		return &FieldError{Path: p, Problem: fmt.Sprintf("is %d µJ, above %d: no host measures that much, and adding to it would wrap", v, uint64(MaxCounterUJ))}
	}
	return nil
}

// checkTime refuses a time that cannot be written back (a year outside 0 to
// 9999), which would make every later save fail.
func checkTime(p string, t time.Time) error {
	if _, err := t.MarshalText(); err != nil {
		return &FieldError{Path: p, Problem: fmt.Sprintf("cannot be written back: %v", err)}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
