package attribution

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// A splitter given the same keys in the same order every tick (which keeps
// the carries in a slice) splits exactly as one given them in a new order
// every tick through the map alone, VMs coming, going,
// keyless and forgotten included.
func TestSplitSameKeysFastPathMatchesMap(t *testing.T) {
	for _, p := range []Policy{DefaultPolicy(), {IdleBusy, OverheadVM}, {IdleVCPUs, OverheadHost}} {
		t.Run(fmt.Sprintf("%s/%s", p.Idle, p.Overhead), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			stable, rotated := NewZoneSplitter(p), NewZoneSplitter(p)
			rotated.mapOnly = true
			keys := []string{"a", "b", "c", "d", "e"}
			next := 0
			for tick := range 3000 {
				switch r := rng.IntN(50); {
				case r == 0 && len(keys) > 1: // a VM goes
					j := rng.IntN(len(keys))
					stable.Forget(keys[j])
					rotated.Forget(keys[j])
					keys = append(keys[:j:j], keys[j+1:]...)
				case r == 1: // a VM comes
					keys = append(keys[:len(keys):len(keys)], fmt.Sprintf("n%d", next))
					next++
				}
				tk := Tick{EnergyUJ: rng.Uint64N(1000), CapacityNS: 4000, BusyNS: rng.Uint64N(4001), HostCPUs: 4}
				vms := make([]VM, len(keys))
				for i := range vms {
					vms[i] = VM{VCPUTimeNS: rng.Uint64N(800), OverheadNS: rng.Uint64N(50), VCPUs: 1 + rng.IntN(2)}
				}
				ks := keys
				if rng.IntN(40) == 0 { // one VM without a key this tick
					ks = append([]string(nil), keys...)
					ks[rng.IntN(len(ks))] = ""
				}
				tk.VMs = vms
				want := stable.Split(tk, ks)
				wantVMs := append([]Share(nil), want.VMs...)

				rot := tick % len(ks)
				rks := append(append([]string(nil), ks[rot:]...), ks[:rot]...)
				rvms := append(append([]VM(nil), vms[rot:]...), vms[:rot]...)
				tk.VMs = rvms
				got := rotated.Split(tk, rks)
				if got.HostUJ != want.HostUJ {
					t.Fatalf("tick %d: host %d, want %d", tick, got.HostUJ, want.HostUJ)
				}
				for i := range ks {
					j := (i - rot + len(ks)) % len(ks)
					if got.VMs[j] != wantVMs[i] {
						t.Fatalf("tick %d: VM %q got %+v, want %+v", tick, ks[i], got.VMs[j], wantVMs[i])
					}
				}
			}
		})
	}
}
