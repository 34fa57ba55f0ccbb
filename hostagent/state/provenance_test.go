package state

import (
	"errors"
	"maps"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/share"
)

const (
	rapl = share.MethodMeasured + "/" + share.ModelRAPL
	tdp  = share.MethodEstimated + "/" + share.ModelTDP
)

// provState is a state whose energy came from two meters: 100 µJ of
// package/0 measured, 40 estimated; the VM's 60 + 10 measured, 20 + 5
// estimated.
func provState() *State {
	st := New()
	st.HostEnergyUJ["package/0"] = 140
	st.HostEnergyByProvenanceUJ = map[string]map[string]uint64{rapl: {"package/0": 100}, tdp: {"package/0": 40}}
	st.VMs["u1"] = &VM{Instance: "i1",
		Zones: map[string]share.ZoneEnergy{"package": {UsageUJ: 80, IdleUJ: 15}},
		ZonesByProvenance: map[string]map[string]share.ZoneEnergy{
			rapl: {"package": {UsageUJ: 60, IdleUJ: 10}},
			tdp:  {"package": {UsageUJ: 20, IdleUJ: 5}},
		}}
	st.UnattributedUJ["package"] = 45
	return st
}

// The by-provenance counters survive a save and a load; an older file
// without them loads with all of its energy under the provenance of the
// meter its baseline names (RAPL when it names none).
func TestProvenanceRoundTripAndOlderFiles(t *testing.T) {
	st := provState()
	b := save(t, st)
	got, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got.HostEnergyByProvenanceUJ[tdp], st.HostEnergyByProvenanceUJ[tdp]) ||
		got.VMs["u1"].ZonesByProvenance[rapl]["package"] != (share.ZoneEnergy{UsageUJ: 60, IdleUJ: 10}) {
		t.Fatalf("round trip: %v, %v", got.HostEnergyByProvenanceUJ, got.VMs["u1"].ZonesByProvenance)
	}
	for _, tc := range []struct {
		meter string // "": no baseline
		want  string
	}{{"", rapl}, {"powercap", rapl}, {"msr", rapl}, {"estimate", tdp}, {"demo", share.MethodEstimated + "/" + share.ModelDemo}} {
		old := provState()
		old.HostEnergyByProvenanceUJ = nil
		old.VMs["u1"].ZonesByProvenance = nil
		if tc.meter != "" {
			old.Baseline = &Baseline{Time: time.Unix(1e9, 0).UTC(), Meter: tc.meter}
		}
		got, err := Parse(save(t, old))
		if err != nil {
			t.Fatalf("meter %q: an older file is refused: %v", tc.meter, err)
		}
		if len(got.HostEnergyByProvenanceUJ) != 1 || got.HostEnergyByProvenanceUJ[tc.want]["package/0"] != 140 {
			t.Errorf("meter %q: host by provenance %v, want all 140 µJ under %s", tc.meter, got.HostEnergyByProvenanceUJ, tc.want)
		}
		if vp := got.VMs["u1"].ZonesByProvenance; len(vp) != 1 || vp[tc.want]["package"] != (share.ZoneEnergy{UsageUJ: 80, IdleUJ: 15}) {
			t.Errorf("meter %q: VM by provenance %v, want all under %s", tc.meter, vp, tc.want)
		}
	}
}

// A by-provenance counter that does not add up to its total, or a key
// that is not "method/model", is refused with the JSON path and the fix.
func TestLoadRefusesBadProvenance(t *testing.T) {
	for _, tc := range []struct {
		name       string
		mutate     func(*State)
		path, want string
	}{
		{"host sum below", func(s *State) { s.HostEnergyByProvenanceUJ[tdp]["package/0"] = 39 },
			`host_energy_by_provenance_uj["*"]["package/0"]`, "must equal the total"},
		{"host sum above", func(s *State) { s.HostEnergyByProvenanceUJ[tdp]["package/0"] = 41 },
			`host_energy_by_provenance_uj["measured/rapl"]["package/0"]`, "must equal the total"},
		{"host key unknown", func(s *State) { s.HostEnergyByProvenanceUJ[tdp]["dram/0"] = 1 },
			`host_energy_by_provenance_uj["estimated/tdp"]["dram/0"]`, "must equal the total"},
		{"host provenance bad", func(s *State) { s.HostEnergyByProvenanceUJ["guessed/tdp"] = map[string]uint64{} },
			`host_energy_by_provenance_uj["guessed/tdp"]`, "not a provenance"},
		{"vm sum below", func(s *State) {
			s.VMs["u1"].ZonesByProvenance[tdp]["package"] = share.ZoneEnergy{UsageUJ: 20, IdleUJ: 4}
		}, `vms["u1"].zones_by_provenance`, "must equal the total"},
		{"vm sum above", func(s *State) {
			s.VMs["u1"].ZonesByProvenance[tdp]["package"] = share.ZoneEnergy{UsageUJ: 21, IdleUJ: 5}
		}, `vms["u1"].zones_by_provenance["measured/rapl"]["package"]`, "must equal the total"},
		{"vm missing while host has them", func(s *State) { s.VMs["u1"].ZonesByProvenance = nil },
			`vms["u1"].zones_by_provenance`, "must equal the total"},
		{"vm provenance without model", func(s *State) {
			s.VMs["u1"].ZonesByProvenance["measured/"] = map[string]share.ZoneEnergy{}
		}, `vms["u1"].zones_by_provenance["measured/"]`, "not a provenance"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := provState()
			tc.mutate(st)
			_, err := Parse(save(t, st))
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Path != tc.path || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v (path %q), want a FieldError at %s saying %q", err, pathOf(fe), tc.path, tc.want)
			}
		})
	}
}

func save(t *testing.T, st *State) []byte {
	t.Helper()
	path := t.TempDir() + "/state.json"
	if err := st.Save(path, time.Unix(1e9, 0).UTC()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func pathOf(fe *FieldError) string {
	if fe == nil {
		return ""
	}
	return fe.Path
}
