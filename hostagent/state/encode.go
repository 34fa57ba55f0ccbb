package state

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/virtwatt/virtwatt/internal/jsonappend"
	"github.com/virtwatt/virtwatt/share"
)

// Encoder encodes states as encoding/json's Marshal does, byte for byte,
// without reflection and, once its buffers have grown to a state's size,
// without allocating for the counters: the agent saves its state each
// tick, and reflection over a thousand VMs' maps cost about twenty
// allocations per VM. Strings that need escaping beyond the plain case
// (and the power curve, one per host) go through encoding/json. An
// Encoder is not safe for concurrent use; its zero value is ready.
type Encoder struct {
	buf []byte
	// keys is each nesting level's last sorted map keys (cachedKeys):
	// every VM's zone maps have the same few keys.
	keys, zoneKeys [3][]string // zoneKeys: of zone maps only
	// The sorted keys of the maps with a key per VM (vms, dirs, the
	// baseline's domains), kept while their key sets stay the same:
	// checking that costs a lookup per key, sorting again far more.
	vmKeys, dirKeys, domKeys []string
	// The last time encoded: a tick's VMs were all last seen at the same
	// instant, and formatting a time costs more than comparing one.
	lastTime     time.Time
	lastTimeJSON []byte
}

// Encode returns s encoded (valid until the next call).
func (e *Encoder) Encode(s *State) ([]byte, error) {
	b, err := e.appendState(e.buf[:0], s)
	if b != nil {
		e.buf = b[:0]
	}
	return b, err
}

// Save replaces path with s, saved at now, atomically (see State.Save).
func (e *Encoder) Save(s *State, path string, now time.Time) error {
	s.SavedAt = now
	b, err := e.Encode(s)
	if err != nil {
		return fmt.Errorf("state: encode: %w", err)
	}
	return WriteFile(path, b)
}

func (e *Encoder) appendState(b []byte, s *State) ([]byte, error) {
	if s == nil {
		return append(b, "null"...), nil
	}
	var err error
	b = append(b, `{"version":`...)
	b = strconv.AppendInt(b, int64(s.Version), 10)
	b = append(b, `,"saved_at":`...)
	if b, err = appendTime(b, s.SavedAt); err != nil {
		return nil, err
	}
	b = append(b, `,"host_energy_uj":`...)
	b = e.appendUints(b, s.HostEnergyUJ, 0)
	if len(s.HostEnergyByProvenanceUJ) > 0 {
		b = append(b, `,"host_energy_by_provenance_uj":{`...)
		keys := cachedKeys(&e.keys[0], s.HostEnergyByProvenanceUJ)
		for i, k := range keys {
			b = appendKey(b, i, k)
			b = e.appendUints(b, s.HostEnergyByProvenanceUJ[k], 1)
		}
		b = append(b, '}')
	}
	b = append(b, `,"unattributed_uj":`...)
	b = e.appendUints(b, s.UnattributedUJ, 0)
	b = append(b, `,"forgotten_uj":`...)
	b = e.appendUints(b, s.ForgottenUJ, 0)
	b = append(b, `,"vms":`...)
	if s.VMs == nil {
		b = append(b, "null"...)
	} else {
		if b, err = appendSorted(b, &e.vmKeys, s.VMs, e.appendVM); err != nil {
			return nil, err
		}
	}
	b = append(b, `,"dirs":`...)
	if s.Dirs == nil {
		b = append(b, "null"...)
	} else {
		if b, err = appendSorted(b, &e.dirKeys, s.Dirs, e.appendTime); err != nil {
			return nil, err
		}
	}
	if s.Baseline != nil {
		b = append(b, `,"baseline":`...)
		if b, err = e.appendBaseline(b, s.Baseline); err != nil {
			return nil, err
		}
	}
	if m := s.Embodied; m != nil {
		b = append(b, `,"embodied":{"total_ug":`...)
		b = strconv.AppendUint(b, m.TotalUG, 10)
		b = append(b, `,"lifetime_ns":`...)
		b = strconv.AppendUint(b, m.LifetimeNS, 10)
		b = append(b, `,"elapsed_ns":`...)
		b = strconv.AppendUint(b, m.ElapsedNS, 10)
		b = append(b, `,"base_ug":`...)
		b = strconv.AppendUint(b, m.BaseUG, 10)
		b = append(b, `,"host_ug":`...)
		b = strconv.AppendUint(b, m.HostUG, 10)
		b = append(b, `,"forgotten_ug":`...)
		b = strconv.AppendUint(b, m.ForgottenUG, 10)
		b = append(b, '}')
	}
	if s.PowerCurve != nil {
		pc, err := json.Marshal(s.PowerCurve) // one per host, nested deep: not worth a copy
		if err != nil {
			return nil, err
		}
		b = append(b, `,"power_curve":`...)
		b = append(b, pc...)
	}
	return append(b, '}'), nil
}

func (e *Encoder) appendVM(b []byte, vm *VM) ([]byte, error) {
	if vm == nil {
		return append(b, "null"...), nil
	}
	var err error
	b = append(b, `{"name":`...)
	b = appendString(b, vm.Name)
	b = append(b, `,"instance":`...)
	b = appendString(b, vm.Instance)
	b = append(b, `,"sequence":`...)
	b = strconv.AppendUint(b, vm.Sequence, 10)
	b = append(b, `,"zones":`...)
	b = e.appendZones(b, vm.Zones, 1)
	b = append(b, `,"vcpu_time_ns":`...)
	b = strconv.AppendUint(b, vm.VCPUTimeNS, 10)
	b = append(b, `,"cpu_time_ns":`...)
	b = strconv.AppendUint(b, vm.CPUTimeNS, 10)
	b = append(b, `,"last_seen":`...)
	if b, err = e.appendTime(b, vm.LastSeen); err != nil {
		return nil, err
	}
	if len(vm.Labels) > 0 {
		b = append(b, `,"labels":{`...)
		for i, k := range cachedKeys(&e.keys[1], vm.Labels) {
			b = appendKey(b, i, k)
			b = appendString(b, vm.Labels[k])
		}
		b = append(b, '}')
	}
	if len(vm.Base) > 0 {
		b = append(b, `,"instance_base":`...)
		b = e.appendZones(b, vm.Base, 1)
	}
	if vm.EmbodiedUG != 0 {
		b = append(b, `,"embodied_ug":`...)
		b = strconv.AppendUint(b, vm.EmbodiedUG, 10)
	}
	if vm.EmbodiedBaseUG != 0 {
		b = append(b, `,"instance_base_embodied_ug":`...)
		b = strconv.AppendUint(b, vm.EmbodiedBaseUG, 10)
	}
	if vm.Emissions != (Emissions{}) {
		b = append(b, `,"emissions_ug":{"dynamic":`...)
		b = strconv.AppendUint(b, vm.Emissions.DynamicUG, 10)
		b = append(b, `,"idle":`...)
		b = strconv.AppendUint(b, vm.Emissions.IdleUG, 10)
		b = append(b, '}')
	}
	if len(vm.ZonesByProvenance) > 0 {
		b = append(b, `,"zones_by_provenance":{`...)
		for i, k := range cachedKeys(&e.keys[1], vm.ZonesByProvenance) {
			b = appendKey(b, i, k)
			b = e.appendZones(b, vm.ZonesByProvenance[k], 2)
		}
		b = append(b, '}')
	}
	return append(b, '}'), nil
}

func (e *Encoder) appendBaseline(b []byte, bl *Baseline) ([]byte, error) {
	var err error
	b = append(b, `{"time":`...)
	if b, err = appendTime(b, bl.Time); err != nil {
		return nil, err
	}
	b = append(b, `,"meter":`...)
	b = appendString(b, bl.Meter)
	b = append(b, `,"readings":`...)
	if bl.Readings == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, r := range bl.Readings {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"kind":`...)
			b = appendString(b, r.Kind)
			b = append(b, `,"socket":`...)
			b = strconv.AppendInt(b, int64(r.Socket), 10)
			b = append(b, `,"energy_uj":`...)
			b = strconv.AppendUint(b, r.EnergyUJ, 10)
			b = append(b, `,"max_range_uj":`...)
			b = strconv.AppendUint(b, r.MaxRangeUJ, 10)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"busy_ns":`...)
	b = strconv.AppendUint(b, bl.BusyNS, 10)
	b = append(b, `,"cpus":`...)
	b = strconv.AppendInt(b, int64(bl.CPUs), 10)
	b = append(b, `,"domains":`...)
	if bl.Domains == nil {
		b = append(b, "null"...)
	} else {
		b, _ = appendSorted(b, &e.domKeys, bl.Domains, appendPair)
	}
	if bl.BootID != "" {
		b = append(b, `,"boot_id":`...)
		b = appendString(b, bl.BootID)
	}
	if bl.HostName != "" {
		b = append(b, `,"host_name":`...)
		b = appendString(b, bl.HostName)
	}
	if bl.MachineID != "" {
		b = append(b, `,"machine_id":`...)
		b = appendString(b, bl.MachineID)
	}
	return append(b, '}'), nil
}

// appendUints appends a map of counters (null when nil), keys sorted with
// scratch level lvl.
func (e *Encoder) appendUints(b []byte, m map[string]uint64, lvl int) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	b = append(b, '{')
	for i, k := range cachedKeys(&e.keys[lvl], m) {
		b = appendKey(b, i, k)
		b = strconv.AppendUint(b, m[k], 10)
	}
	return append(b, '}')
}

// appendZones appends a map of zone energies (null when nil).
func (e *Encoder) appendZones(b []byte, m map[string]share.ZoneEnergy, lvl int) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	b, _ = appendSorted(b, &e.zoneKeys[lvl], m, appendZone)
	return b
}

func appendZone(b []byte, z share.ZoneEnergy) ([]byte, error) {
	b = append(b, `{"usage_uj":`...)
	b = strconv.AppendUint(b, z.UsageUJ, 10)
	b = append(b, `,"idle_uj":`...)
	b = strconv.AppendUint(b, z.IdleUJ, 10)
	return append(b, '}'), nil
}

func appendPair(b []byte, d [2]uint64) ([]byte, error) {
	b = append(b, '[')
	b = strconv.AppendUint(b, d[0], 10)
	b = append(b, ',')
	b = strconv.AppendUint(b, d[1], 10)
	return append(b, ']'), nil
}

// appendSorted appends m as a JSON object, its keys sorted (kept in *keys,
// see cachedKeys) and each value by f. While *keys holds exactly m's keys
// each is looked up once: the entries are appended as they are found, and
// at the first key m lacks they are taken back and the keys sorted again.
func appendSorted[V any](b []byte, keys *[]string, m map[string]V, f func([]byte, V) ([]byte, error)) ([]byte, error) {
	var err error
	b = append(b, '{')
	if ks := *keys; len(ks) == len(m) {
		start, all := len(b), true
		for i, k := range ks {
			v, ok := m[k]
			if !ok {
				all = false
				break
			}
			b = appendKey(b, i, k)
			if b, err = f(b, v); err != nil {
				return nil, err
			}
		}
		if all {
			return append(b, '}'), nil
		}
		b = b[:start]
	}
	for i, k := range cachedKeys(keys, m) {
		b = appendKey(b, i, k)
		if b, err = f(b, m[k]); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// cachedKeys is m's keys sorted: *keys when it holds exactly m's keys
// (as many, each in m), else sorted again into *keys.
func cachedKeys[V any](keys *[]string, m map[string]V) []string {
	if len(*keys) == len(m) {
		same := true
		for _, k := range *keys {
			if _, ok := m[k]; !ok {
				same = false
				break
			}
		}
		if same {
			return *keys
		}
	}
	ks := (*keys)[:0]
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	*keys = ks
	return ks
}

// appendTime is appendTime with the last time's encoding kept: t equal
// to it in every part (==: instant, monotonic reading and location) is
// encoded the same.
func (e *Encoder) appendTime(b []byte, t time.Time) ([]byte, error) {
	if t == e.lastTime && e.lastTimeJSON != nil {
		return append(b, e.lastTimeJSON...), nil
	}
	n := len(b)
	b, err := appendTime(b, t)
	if err != nil {
		return nil, err
	}
	e.lastTime, e.lastTimeJSON = t, append(e.lastTimeJSON[:0], b[n:]...)
	return b, nil
}

// appendKey appends the i-th key of an object (with its comma) and the colon.
func appendKey(b []byte, i int, k string) []byte {
	if i > 0 {
		b = append(b, ',')
	}
	return append(appendString(b, k), ':')
}

// appendTime appends t as time.Time's MarshalJSON does (and refuses what
// it refuses: a year outside [0, 9999], a zone offset of a day or more).
func appendTime(b []byte, t time.Time) ([]byte, error) {
	b = append(b, '"')
	b, err := t.AppendText(b)
	if err != nil {
		return nil, fmt.Errorf("json: error calling MarshalJSON for type time.Time: %w", err)
	}
	return append(b, '"'), nil
}

// appendString appends s as encoding/json's Marshal does (HTML escaped).
func appendString(b []byte, s string) []byte {
	return jsonappend.String(b, s, true)
}
