package hostguest

import (
	"math"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/tests/testbin"
)

// TestEmbodiedAndEmissionsHostAndGuestAgree: the host charges embodied
// emissions (its default, the reference rack server) to each VM and writes
// the counter into the record; the guest takes it, so after the host stops
// the guest's virtwatt_vm_embodied_grams_total equals the host's counter
// exactly. The host's own emissions by part (no guest needed) equal what
// the guest reckons from the records, to the µg.
func TestEmbodiedAndEmissionsHostAndGuestAgree(t *testing.T) {
	const interval = 300 * time.Millisecond
	p := startPair(t, interval, 100*time.Millisecond)
	hostAddr, guestAddr := p.hostAddr, p.guestAddr
	time.Sleep(5 * interval)
	h := testbin.Scrape(t, hostAddr)
	if v, n := testbin.Sum(h, "virtwatt_domain_embodied_grams_total", `domain="demo-web"`); n != 1 || v <= 0 {
		t.Fatalf("host embodied for demo-web: %v g (%d series)", v, n)
	}
	for _, part := range []string{"dynamic", "idle", "embodied"} {
		if v, n := testbin.Sum(h, "virtwatt_domain_emissions_grams_total", `domain="demo-web"`, `part="`+part+`"`); n != 1 || v <= 0 {
			t.Errorf("host emissions{part=%s} for demo-web: %v g (%d series)", part, v, n)
		}
	}

	p.stopHost(t)
	var st struct {
		VMs map[string]struct {
			Name       string `json:"name"`
			EmbodiedUG uint64 `json:"embodied_ug"`
			Emissions  struct {
				Dynamic uint64 `json:"dynamic"`
				Idle    uint64 `json:"idle"`
			} `json:"emissions_ug"`
		} `json:"vms"`
	}
	p.readState(t, &st)
	vm := st.VMs[webUUID]
	if vm.Name != "demo-web" || vm.EmbodiedUG == 0 {
		t.Fatalf("state: %+v", vm)
	}
	time.Sleep(time.Second) // several guest polls
	g := testbin.Scrape(t, guestAddr)
	if got, want := g["virtwatt_vm_embodied_grams_total"], float64(vm.EmbodiedUG)/1e6; math.Round(got*1e6) != float64(vm.EmbodiedUG) {
		t.Fatalf("guest embodied %.6f g, host's counter %.6f g", got, want)
	}
	for _, c := range []struct {
		part string
		ug   uint64
	}{{"dynamic", vm.Emissions.Dynamic}, {"idle", vm.Emissions.Idle}} {
		got, n := testbin.Sum(g, "virtwatt_vm_emissions_grams_total", `part="`+c.part+`"`)
		if n != 1 || math.Abs(got*1e6-float64(c.ug)) > 1+1e-9*float64(c.ug) {
			t.Errorf("%s emissions: guest %.6f g (%d series), host %d µg", c.part, got, n, c.ug)
		}
	}
}
