// Package hostguest runs the two real binaries against each other on one
// machine: virtwatt-host --demo writes real share directories, and
// virtwatt-guest follows one of them as it would inside that VM.
package hostguest

import (
	"fmt"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/tests/testbin"
)

// TestGuestEnergyMatchesHostAttribution: while both run, the guest's energy
// is the host's attribution for that VM within one tick; after the host
// stops, the guest's counter equals the host's final figure exactly.
func TestGuestEnergyMatchesHostAttribution(t *testing.T) {
	const interval = 500 * time.Millisecond
	p := startPair(t, interval, 200*time.Millisecond)
	hostAddr, guestAddr := p.hostAddr, p.guestAddr

	time.Sleep(3 * interval)
	for i := 0; i < 5; i++ {
		h := testbin.Scrape(t, hostAddr)
		g := testbin.Scrape(t, guestAddr)
		for _, zone := range []string{"package", "dram"} {
			hv, n := testbin.Sum(h, "virtwatt_domain_energy_joules_total", `domain="demo-web"`, `zone="`+zone+`"`)
			if n != 2 {
				t.Fatalf("host exports %d parts for demo-web/%s, want usage and idle", n, zone)
			}
			gv, _ := testbin.Sum(g, "virtwatt_vm_energy_joules_total", `model="demo"`, `zone="`+zone+`"`)
			power, _ := testbin.Sum(h, "virtwatt_domain_power_watts", `domain="demo-web"`, `method="estimated"`, `model="demo"`, `zone="`+zone+`"`)
			oneTick := power * interval.Seconds() * 1.5 // one tick, with noise and scheduling slack
			if gv <= 0 || gv > hv+1e-6 || hv-gv > oneTick+1e-6 {
				t.Fatalf("%s: guest %.6f J, host %.6f J: more than one tick (%.3f J) apart", zone, gv, hv, oneTick)
			}
		}
		time.Sleep(interval)
	}

	// Stop the host: its last record stays; the guest converges on it exactly.
	p.stopHost(t)
	var st struct {
		VMs map[string]struct {
			Name  string `json:"name"`
			Zones map[string]struct {
				UsageUJ uint64 `json:"usage_uj"`
				IdleUJ  uint64 `json:"idle_uj"`
			} `json:"zones"`
		} `json:"vms"`
	}
	p.readState(t, &st)
	vm := st.VMs[webUUID]
	time.Sleep(time.Second) // > 2 guest polls
	g := testbin.Scrape(t, guestAddr)
	var total float64
	for _, zone := range []string{"package", "dram"} {
		want := float64(vm.Zones[zone].UsageUJ+vm.Zones[zone].IdleUJ) / 1e6
		got, _ := testbin.Sum(g, "virtwatt_vm_energy_joules_total", `model="demo"`, `zone="`+zone+`"`) // the guest's own estimate after the host stopped is apart
		if fmt.Sprintf("%.6f", got) != fmt.Sprintf("%.6f", want) {
			t.Fatalf("%s after host stop: guest %.6f J, host state %.6f J", zone, got, want)
		}
		total += want
	}
	// Emissions follow the host's intensity and PUE: J → kWh × 1.5 × 100 g/kWh.
	wantG := total / 3.6e6 * 1.5 * 100
	if got, _ := testbin.Sum(g, "virtwatt_vm_emissions_grams_total"); got < wantG*0.999999 || got > wantG*1.000001 {
		t.Fatalf("emissions %.9f g, want %.9f g", got, wantG)
	}
}
