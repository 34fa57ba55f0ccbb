package attribution

import (
	"fmt"
	"strings"
	"testing"
)

func TestPolicyValidate(t *testing.T) {
	tests := []struct {
		p       Policy
		wantErr string // substring; "" for valid
	}{
		{DefaultPolicy(), ""},
		{Policy{IdleHost, OverheadHost}, ""},
		{Policy{IdleBusy, OverheadVM}, ""},
		{Policy{"cores", OverheadVM}, `idle policy "cores" is not one of "host", "vcpus", "busy"`},
		{Policy{"", OverheadVM}, `idle policy ""`},
		{Policy{IdleVCPUs, "guest"}, `overhead policy "guest" is not one of "vm", "host"`},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%s", tt.p.Idle, tt.p.Overhead), func(t *testing.T) {
			err := tt.p.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Validate() = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

// Three equal VMs share 1 µJ per tick with nothing for the host: the unit
// rotates, and after every third tick each VM has exactly its third.
func TestSplitCarriesRemainders(t *testing.T) {
	s := NewZoneSplitter(Policy{IdleBusy, OverheadVM})
	tick := Tick{EnergyUJ: 1, CapacityNS: 3, BusyNS: 3, HostCPUs: 3,
		VMs: []VM{{VCPUTimeNS: 1, VCPUs: 1}, {VCPUTimeNS: 1, VCPUs: 1}, {VCPUTimeNS: 1, VCPUs: 1}}}
	keys := []string{"a", "b", "c"}
	got := map[string]uint64{}
	for i := 1; i <= 30; i++ {
		// Reverse the order every other tick: carries follow keys, not slots.
		if i%2 == 0 {
			keys[0], keys[2] = keys[2], keys[0]
		}
		r := s.Split(tick, keys)
		if r.HostUJ != 0 {
			t.Fatalf("tick %d: host got %d µJ, want 0", i, r.HostUJ)
		}
		for j, sh := range r.VMs {
			got[keys[j]] += sh.TotalUJ()
		}
		for _, k := range []string{"a", "b", "c"} {
			exact := float64(i) / 3
			if d := float64(got[k]) - exact; d > 1 || d < -1 {
				t.Fatalf("tick %d: %s has %d µJ, exact %.3f", i, k, got[k], exact)
			}
		}
		if i%3 == 0 {
			for _, k := range []string{"a", "b", "c"} {
				if got[k] != uint64(i/3) {
					t.Fatalf("tick %d: %s has %d µJ, want %d", i, k, got[k], i/3)
				}
			}
		}
	}
}

// Forget passes a VM's carry to the host: with one VM owed 2/3 µJ
// forgotten, the host (exactly owed 2/3 more) gets the next unit.
func TestSplitForget(t *testing.T) {
	s := NewZoneSplitter(Policy{IdleHost, OverheadVM})
	// VM a's exact share is 1/3 µJ per tick, the host's 2/3.
	tick := Tick{EnergyUJ: 1, CapacityNS: 3, BusyNS: 1, HostCPUs: 1,
		VMs: []VM{{VCPUTimeNS: 1, VCPUs: 1}}}
	r1 := s.Split(tick, []string{"a"})
	if r1.VMs[0].TotalUJ() != 0 || r1.HostUJ != 1 {
		t.Fatalf("tick 1: got a=%d host=%d, want 0 and 1", r1.VMs[0].TotalUJ(), r1.HostUJ)
	}
	r2 := s.Split(tick, []string{"a"})
	if r2.VMs[0].TotalUJ() != 1 || r2.HostUJ != 0 {
		t.Fatalf("tick 2: got a=%d host=%d, want 1 and 0 (a is owed 2/3)", r2.VMs[0].TotalUJ(), r2.HostUJ)
	}
	// Now a is owed −1/3 (overpaid), the host +1/3. A new VM "b" with the
	// same inputs starts from zero: b 1/3, host 2/3 + 1/3 + (−1/3 from a).
	s.Forget("a")
	r3 := s.Split(tick, []string{"b"})
	if r3.VMs[0].TotalUJ() != 0 || r3.HostUJ != 1 {
		t.Fatalf("tick 3: got b=%d host=%d, want 0 and 1", r3.VMs[0].TotalUJ(), r3.HostUJ)
	}
	if _, ok := s.owed["a"]; ok {
		t.Fatal("Forget kept a's carry")
	}
	s.Forget("nobody") // no-op
}

// A VM absent from a tick keeps its carry until it comes back.
func TestSplitAbsentVMKeepsCarry(t *testing.T) {
	s := NewZoneSplitter(Policy{IdleBusy, OverheadVM})
	half := Tick{EnergyUJ: 1, CapacityNS: 2, BusyNS: 2, HostCPUs: 2,
		VMs: []VM{{VCPUTimeNS: 1, VCPUs: 1}, {VCPUTimeNS: 1, VCPUs: 1}}}
	r := s.Split(half, []string{"a", "b"}) // tie: a gets the unit, b is owed 1/2
	if r.VMs[0].TotalUJ() != 1 || r.VMs[1].TotalUJ() != 0 {
		t.Fatalf("got %+v, want a=1 b=0", r.VMs)
	}
	empty := Tick{EnergyUJ: 5, CapacityNS: 2, BusyNS: 0, HostCPUs: 2}
	if r := s.Split(empty, nil); r.HostUJ != 5 {
		t.Fatalf("host got %d, want 5", r.HostUJ)
	}
	r = s.Split(half, []string{"b", "a"}) // b (owed 1/2) now wins over a (owed −1/2)
	if r.VMs[0].TotalUJ() != 1 || r.VMs[1].TotalUJ() != 0 {
		t.Fatalf("got %+v, want b=1 a=0", r.VMs)
	}
}
