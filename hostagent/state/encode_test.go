package state

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/hostagent/powercurve"
	"github.com/virtwatt/virtwatt/share"
)

// strs are strings encoding/json escapes in every way it does, and plain ones.
var strs = []string{"", "package", "dram", "psys", "web-1", "4f1c0d7e-2b9a-4c55-9d3e-1a2b3c4d5e6f", "a\"b", `back\slash`,
	"<script>&amp;", "tab\there", "nl\n", "\x00\x01\x1f", "del\x7f", "é ünïcode ☃", "\u2028\u2029", "bad\xff\xfeutf8", "🙂", "kind/0", "measured/rapl"}

func randStr(r *rand.Rand) string { return strs[r.IntN(len(strs))] }

func randUint(r *rand.Rand) uint64 {
	switch r.IntN(4) {
	case 0:
		return 0
	case 1:
		return math.MaxUint64 - r.Uint64N(3)
	}
	return r.Uint64() >> uint(r.IntN(64))
}

func randTime(r *rand.Rand) time.Time {
	switch r.IntN(5) {
	case 0:
		return time.Time{}
	case 1:
		return time.Date(2026, 12, 1, 15, 4, 5, r.IntN(1e9), time.UTC)
	case 2:
		return time.Date(1+r.IntN(9998), time.Month(1+r.IntN(12)), 1+r.IntN(28), r.IntN(24), 0, 0, 0, time.FixedZone("x", (r.IntN(47)-23)*1800))
	case 3:
		return time.Unix(r.Int64N(1<<34), r.Int64N(1e9)) // local zone, monotonic-free
	}
	return time.Now() // monotonic reading: never encoded
}

func randUints(r *rand.Rand) map[string]uint64 {
	if r.IntN(5) == 0 {
		return nil
	}
	m := map[string]uint64{}
	for range r.IntN(5) {
		m[randStr(r)] = randUint(r)
	}
	return m
}

func randZones(r *rand.Rand) map[string]share.ZoneEnergy {
	if r.IntN(5) == 0 {
		return nil
	}
	m := map[string]share.ZoneEnergy{}
	for range r.IntN(4) {
		m[randStr(r)] = share.ZoneEnergy{UsageUJ: randUint(r), IdleUJ: randUint(r)}
	}
	return m
}

func randState(r *rand.Rand) *State {
	s := &State{Version: r.IntN(3), SavedAt: randTime(r), HostEnergyUJ: randUints(r), UnattributedUJ: randUints(r), ForgottenUJ: randUints(r)}
	if r.IntN(2) == 0 {
		s.HostEnergyByProvenanceUJ = map[string]map[string]uint64{}
		for range r.IntN(3) {
			s.HostEnergyByProvenanceUJ[randStr(r)] = randUints(r)
		}
	}
	if r.IntN(6) > 0 {
		s.VMs = map[string]*VM{}
		for range r.IntN(20) {
			if r.IntN(15) == 0 {
				s.VMs[randStr(r)] = nil
				continue
			}
			vm := &VM{Name: randStr(r), Instance: randStr(r), Sequence: randUint(r), Zones: randZones(r),
				VCPUTimeNS: randUint(r), CPUTimeNS: randUint(r), LastSeen: randTime(r)}
			if r.IntN(2) == 0 {
				vm.Labels = map[string]string{}
				for range r.IntN(4) {
					vm.Labels[randStr(r)] = randStr(r)
				}
			}
			if r.IntN(2) == 0 {
				vm.Base = randZones(r)
			}
			if r.IntN(2) == 0 {
				vm.EmbodiedUG, vm.EmbodiedBaseUG = randUint(r), randUint(r)
			}
			if r.IntN(2) == 0 {
				vm.Emissions = Emissions{DynamicUG: randUint(r), IdleUG: randUint(r)}
			}
			if r.IntN(2) == 0 {
				vm.ZonesByProvenance = map[string]map[string]share.ZoneEnergy{}
				for range r.IntN(3) {
					vm.ZonesByProvenance[randStr(r)] = randZones(r)
				}
			}
			s.VMs[fmt.Sprintf("%s-%d", randStr(r), r.IntN(1000))] = vm
		}
	}
	if r.IntN(6) > 0 {
		s.Dirs = map[string]time.Time{}
		for range r.IntN(6) {
			s.Dirs[randStr(r)] = randTime(r)
		}
	}
	if r.IntN(2) == 0 {
		b := &Baseline{Time: randTime(r), Meter: randStr(r), BusyNS: randUint(r), CPUs: r.IntN(512) - 1,
			BootID: randStr(r), HostName: randStr(r), MachineID: randStr(r)}
		if r.IntN(4) > 0 {
			b.Readings = []Reading{}
			for range r.IntN(4) {
				b.Readings = append(b.Readings, Reading{Kind: randStr(r), Socket: r.IntN(4) - 1, EnergyUJ: randUint(r), MaxRangeUJ: randUint(r)})
			}
		}
		if r.IntN(4) > 0 {
			b.Domains = map[string][2]uint64{}
			for range r.IntN(5) {
				b.Domains[randStr(r)] = [2]uint64{randUint(r), randUint(r)}
			}
		}
		s.Baseline = b
	}
	if r.IntN(2) == 0 {
		s.Embodied = &Embodied{TotalUG: randUint(r), LifetimeNS: randUint(r), ElapsedNS: randUint(r), BaseUG: randUint(r), HostUG: randUint(r), ForgottenUG: randUint(r)}
	}
	if r.IntN(3) == 0 {
		s.PowerCurve = &powercurve.Saved{Zones: map[string]*powercurve.SavedZone{
			randStr(r): {CPUs: r.IntN(64), Bins: [][][2]uint64{{{randUint(r), randUint(r)}}},
				Calibrated: &powercurve.SavedCurve{Time: randTime(r), IdleUW: randUint(r), Samples: randUint(r)}},
		}}
	}
	return s
}

// The encoder writes what encoding/json writes, byte for byte, for random
// states with every kind of field, string, nil and empty map, and refuses
// what it refuses; one Encoder reused over all of them.
func TestEncoderIsEncodingJSON(t *testing.T) {
	var e Encoder
	for seed := range uint64(3000) {
		r := rand.New(rand.NewPCG(seed, 8))
		s := randState(r)
		want, wantErr := json.Marshal(s)
		got, err := e.Encode(s)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("seed %d: error %v, encoding/json's %v", seed, err, wantErr)
		}
		if err == nil && !bytes.Equal(got, want) {
			i := 0
			for i < len(got) && i < len(want) && got[i] == want[i] {
				i++
			}
			t.Fatalf("seed %d: differs at byte %d:\ngot  %s\nwant %s", seed, i, got[max(i-80, 0):min(i+80, len(got))], want[max(i-80, 0):min(i+80, len(want))])
		}
	}
	if got, _ := e.Encode(nil); string(got) != "null" {
		t.Fatalf("nil state: %s", got)
	}
}

// A state saved and loaded again is the same state (valid states only:
// Load validates), through the encoder Save uses.
func TestEncoderSaveLoad(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 1, 15, 0, 0, 123456789, time.UTC)
	st := New()
	st.HostEnergyUJ["package/0"] = 10
	st.HostEnergyByProvenanceUJ = map[string]map[string]uint64{"measured/rapl": {"package/0": 10}}
	st.UnattributedUJ["package"] = 4
	st.VMs["4f1c0d7e-2b9a-4c55-9d3e-1a2b3c4d5e6f"] = &VM{Name: "web <1> & \"x\"", Instance: "0123456789abcdef", Sequence: 7,
		Zones: map[string]share.ZoneEnergy{"package": {UsageUJ: 5, IdleUJ: 1}}, LastSeen: now,
		Labels:            map[string]string{"team": "é☃\u2028"},
		ZonesByProvenance: map[string]map[string]share.ZoneEnergy{"measured/rapl": {"package": {UsageUJ: 5, IdleUJ: 1}}}}
	st.Dirs["web <1> & \"x\""] = now
	path := filepath.Join(dir, "state.json")
	var e Encoder
	for range 2 {
		if err := e.Save(st, path, now); err != nil {
			t.Fatal(err)
		}
		got, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, st) {
			t.Fatalf("loaded %+v\nsaved %+v", got, st)
		}
	}
}

// Encoding a steady state allocates nothing once the buffers have grown.
func TestEncoderDoesNotAllocate(t *testing.T) {
	st := New()
	now := time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC)
	st.SavedAt = now
	for i := range 100 {
		st.VMs[fmt.Sprintf("uuid-%d", i)] = &VM{Name: fmt.Sprintf("vm-%d", i), Instance: "i", LastSeen: now,
			Zones: map[string]share.ZoneEnergy{"package": {UsageUJ: 1}, "dram": {IdleUJ: 2}}}
		st.Dirs[fmt.Sprintf("vm-%d", i)] = now
	}
	var e Encoder
	if _, err := e.Encode(st); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(10, func() { _, _ = e.Encode(st) }); n != 0 {
		t.Fatalf("%v allocations per encoding of 100 VMs, want 0", n)
	}
}

// One Encoder over a state that changes as a host's does from tick to
// tick — a VM replaced by another (same count, other key), every VM seen
// at the new instant, a time equal but in another location — still
// writes what encoding/json writes.
func TestEncoderAcrossTicks(t *testing.T) {
	st := New()
	now := time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC)
	for i := range 50 {
		st.VMs[fmt.Sprintf("uuid-%02d", i)] = &VM{Name: fmt.Sprintf("vm-%d", i), LastSeen: now}
		st.Dirs[fmt.Sprintf("vm-%d", i)] = now
	}
	st.Baseline = &Baseline{Domains: map[string][2]uint64{"uuid-00": {1, 2}}}
	var e Encoder
	for tick := range 20 {
		now = now.Add(time.Second)
		old, nu := fmt.Sprintf("uuid-%02d", tick), fmt.Sprintf("uuid-new-%02d", tick)
		st.VMs[nu] = st.VMs[old]
		delete(st.VMs, old)
		delete(st.Dirs, fmt.Sprintf("vm-%d", tick))
		st.Dirs[fmt.Sprintf("new-%d", tick)] = now
		delete(st.Baseline.Domains, old)
		st.Baseline.Domains[nu] = [2]uint64{uint64(tick), 0}
		for _, vm := range st.VMs {
			vm.LastSeen = now
		}
		if tick%3 == 0 {
			st.VMs[nu].LastSeen = now.In(time.FixedZone("CET", 3600)) // same instant, another zone
		}
		want, _ := json.Marshal(st)
		got, err := e.Encode(st)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("tick %d (%v):\ngot  %s\nwant %s", tick, err, got, want)
		}
	}
}
