package ledger

import (
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/hostagent/attribution"
	"github.com/virtwatt/virtwatt/hostagent/state"
	"github.com/virtwatt/virtwatt/share"
)

// year is HoursPerYear in ns.
const year = uint64(8766 * 3600 * 1e9)

func newVMs(n int) ([]*state.VM, []string) {
	vms := make([]*state.VM, n)
	keys := make([]string, n)
	for i := range vms {
		vms[i] = &state.VM{Instance: "i", Zones: map[string]share.ZoneEnergy{}}
		keys[i] = string(rune('a' + i))
	}
	return vms, keys
}

// Embodied emissions go by allocated vCPUs over max(Σ allocated, host
// CPUs), to the µg of each VM's exact cumulative share; a VM that is not
// running (0 vCPUs counted) gets none; the rest is the host's.
func TestEmbodiedSplitByVCPUs(t *testing.T) {
	for _, c := range []struct {
		name     string
		vcpus    []int
		hostCPUs int
		den      uint64 // max(Σ vcpus, host CPUs)
	}{
		{"under-allocated: the host keeps the rest", []int{2, 4, 0}, 8, 8},
		{"over-allocated: the VMs share it all", []int{2, 10}, 8, 12},
		{"no VMs", nil, 8, 8},
		{"no host CPUs known", []int{3}, 0, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := state.New()
			l := New(st, zones)
			l.SetEmbodied(1e12, 4*year) // 1 t over 4 years: 28.5 g/h
			vms, keys := newVMs(len(c.vcpus))
			avms := make([]attribution.VM, len(c.vcpus))
			for i, v := range c.vcpus {
				avms[i] = attribution.VM{VCPUs: v, VCPUTimeNS: uint64(i) * 1e9} // usage does not matter
			}
			for range 3600 {
				if err := l.Embody(time.Second, c.hostCPUs, avms, keys, vms); err != nil {
					t.Fatal(err)
				}
			}
			total := st.Embodied.Amortised()
			if want := uint64(1e12) / (4 * 8766); total != want { // an hour of four years
				t.Fatalf("an hour amortised %d µg, want %d", total, want)
			}
			sum := st.Embodied.HostUG
			for i, vm := range vms {
				exact := float64(total) * float64(c.vcpus[i]) / float64(c.den)
				if d := float64(vm.EmbodiedUG) - exact; d < -1 || d > 1 {
					t.Errorf("VM %d (%d vCPUs of %d): %d µg, exact share %.1f", i, c.vcpus[i], c.den, vm.EmbodiedUG, exact)
				}
				sum += vm.EmbodiedUG
			}
			if sum != total {
				t.Fatalf("Σ VMs + host = %d µg, amortised %d", sum, total)
			}
		})
	}
}

// Changing the figures starts a new epoch: the amortised total keeps what
// it had and grows at the new rate; a zero lifetime (embodied off)
// amortises nothing more. The same figures change nothing.
func TestSetEmbodiedNeverGoesBack(t *testing.T) {
	st := state.New()
	l := New(st, zones)
	vms, keys := newVMs(1)
	avms := []attribution.VM{{VCPUs: 4}}
	if l.SetEmbodied(8766e6, year) { // 1 g per hour
		t.Fatal("the first figures replaced an epoch")
	}
	embody := func(d time.Duration) {
		if err := l.Embody(d, 8, avms, keys, vms); err != nil {
			t.Fatal(err)
		}
	}
	embody(2 * time.Hour)
	if got := st.Embodied.Amortised(); got != 2e6 {
		t.Fatalf("2 h at 1 g/h: %d µg", got)
	}
	if l.SetEmbodied(8766e6, year) {
		t.Fatal("the same figures started a new epoch")
	}
	if !l.SetEmbodied(8766e6, year/2) { // twice the rate
		t.Fatal("new figures did not start a new epoch")
	}
	if got := st.Embodied.Amortised(); got != 2e6 {
		t.Fatalf("a new epoch moved the total to %d µg", got)
	}
	embody(time.Hour)
	if got := st.Embodied.Amortised(); got != 4e6 {
		t.Fatalf("then 1 h at 2 g/h: %d µg, want 4e6", got)
	}
	l.SetEmbodied(0, 0) // off
	embody(time.Hour)
	if got := st.Embodied.Amortised(); got != 4e6 {
		t.Fatalf("embodied off still amortised: %d µg", got)
	}
	if vms[0].EmbodiedUG+st.Embodied.HostUG != 4e6 || vms[0].EmbodiedUG != 2e6 {
		t.Fatalf("VM %d µg, host %d µg", vms[0].EmbodiedUG, st.Embodied.HostUG)
	}
}

// Forget moves a VM's embodied emissions to forgotten; Rebase makes the
// current counter the instance's base.
func TestEmbodiedForgetAndRebase(t *testing.T) {
	st := state.New()
	l := New(st, zones)
	l.SetEmbodied(8766e6, year)
	vms, keys := newVMs(2)
	st.VMs["a"], st.VMs["b"] = vms[0], vms[1]
	if err := l.Embody(time.Hour, 2, []attribution.VM{{VCPUs: 1}, {VCPUs: 1}}, keys, vms); err != nil {
		t.Fatal(err)
	}
	l.Rebase(vms[1])
	if vms[1].EmbodiedBaseUG != 5e5 || vms[1].EmbodiedUG != 5e5 {
		t.Fatalf("rebase: %+v", vms[1])
	}
	if !l.Forget("a") {
		t.Fatal("no VM a")
	}
	tot := l.Totals()
	if tot.EmbodiedForgottenUG != 5e5 || tot.EmbodiedAmortisedUG != 1e6 || tot.EmbodiedHostUG != 0 {
		t.Fatalf("totals %+v", tot)
	}
	if err := st.Validate(); err != nil {
		t.Fatal(err)
	}
}
