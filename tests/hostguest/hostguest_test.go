// Package hostguest runs the two real binaries against each other on one
// machine: virtwatt-host --demo writes real share directories, and
// virtwatt-guest follows one of them as it would inside that VM.
package hostguest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/tests/testbin"
)

// TestGuestEnergyMatchesHostAttribution: while both run, the guest's energy
// is the host's attribution for that VM within one tick; after the host
// stops, the guest's counter equals the host's final figure exactly.
func TestGuestEnergyMatchesHostAttribution(t *testing.T) {
	hostBin, guestBin := testbin.Build(t)
	dir := t.TempDir()
	hostAddr, guestAddr := testbin.FreePort(t), testbin.FreePort(t)
	const interval = 500 * time.Millisecond
	host := testbin.Start(t, hostBin, "--demo", "--share-root", filepath.Join(dir, "vms"), "--state-file", filepath.Join(dir, "state.json"),
		"--web.listen-address", hostAddr, "--interval", interval.String(), "--pue", "1.5", "--carbon-intensity", "100")
	testbin.WaitFor(t, "host endpoint", 10*time.Second, func() bool { return testbin.Up(hostAddr) })
	share := filepath.Join(dir, "vms", "demo-web")
	testbin.Start(t, guestBin, "--share-dir", share, "--web.listen-address", guestAddr, "--poll-interval", "200ms", "--top-processes", "0")
	testbin.WaitFor(t, "guest endpoint", 10*time.Second, func() bool { return testbin.Up(guestAddr) })
	testbin.WaitFor(t, "guest share_up", 10*time.Second, func() bool { return testbin.Scrape(t, guestAddr)["virtwatt_share_up"] == 1 })

	time.Sleep(3 * interval)
	for i := 0; i < 5; i++ {
		h := testbin.Scrape(t, hostAddr)
		g := testbin.Scrape(t, guestAddr)
		for _, zone := range []string{"package", "dram"} {
			hv, n := testbin.Sum(h, "virtwatt_domain_energy_joules_total", `domain="demo-web"`, `zone="`+zone+`"`)
			if n != 2 {
				t.Fatalf("host exports %d parts for demo-web/%s, want usage and idle", n, zone)
			}
			gv, _ := testbin.Sum(g, "virtwatt_vm_energy_joules_total", `method="measured"`, `zone="`+zone+`"`)
			power, _ := testbin.Sum(h, "virtwatt_domain_power_watts", `domain="demo-web"`, `method="measured"`, `model="rapl"`, `zone="`+zone+`"`)
			oneTick := power * interval.Seconds() * 1.5 // one tick, with noise and scheduling slack
			if gv <= 0 || gv > hv+1e-6 || hv-gv > oneTick+1e-6 {
				t.Fatalf("%s: guest %.6f J, host %.6f J: more than one tick (%.3f J) apart", zone, gv, hv, oneTick)
			}
		}
		time.Sleep(interval)
	}

	// Stop the host: its last record stays; the guest converges on it exactly.
	if err := host.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if _, exited := host.Wait(10 * time.Second); !exited {
		t.Fatal("virtwatt-host did not stop within 10 s of SIGTERM")
	}
	var st struct {
		VMs map[string]struct {
			Name  string `json:"name"`
			Zones map[string]struct {
				UsageUJ uint64 `json:"usage_uj"`
				IdleUJ  uint64 `json:"idle_uj"`
			} `json:"zones"`
		} `json:"vms"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	vm := st.VMs["0d3c0a52-6a4e-4c1e-9a31-000000000001"]
	time.Sleep(time.Second) // > 2 guest polls
	g := testbin.Scrape(t, guestAddr)
	var total float64
	for _, zone := range []string{"package", "dram"} {
		want := float64(vm.Zones[zone].UsageUJ+vm.Zones[zone].IdleUJ) / 1e6
		got, _ := testbin.Sum(g, "virtwatt_vm_energy_joules_total", `method="measured"`, `zone="`+zone+`"`) // the guest's own estimate after the host stopped is apart
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
