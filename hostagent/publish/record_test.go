package publish

import (
	"math"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/hostagent/domain"
	"github.com/virtwatt/virtwatt/hostagent/state"
	"github.com/virtwatt/virtwatt/share"
)

func TestVCPUShares(t *testing.T) {
	run := func(v int) domain.Domain { return domain.Domain{State: domain.StateRunning, VCPUs: v} }
	for _, tc := range []struct {
		name     string
		doms     []domain.Domain
		hostCPUs int
		want     int
	}{
		{"fewer vCPUs than CPUs: the host keeps the rest", []domain.Domain{run(2), run(2)}, 16, 16},
		{"overcommitted: by allocated vCPUs", []domain.Domain{run(12), run(8)}, 16, 20},
		{"paused and shut off VMs count no vCPU", []domain.Domain{run(4), {State: domain.StatePaused, VCPUs: 32}, {State: domain.StateShutoff, VCPUs: 32}}, 2, 4},
		{"nothing known", nil, 0, 1},
	} {
		if got := VCPUShares(tc.doms, tc.hostCPUs); got != tc.want {
			t.Errorf("%s: VCPUShares = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestRecord: a record carries the VM's energy since its instance began
// (psys published as package), the site's figures, and embodied emissions
// only for a running VM, by its vCPUs over the shares.
func TestRecord(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	site := Site{
		HostName: "h1", Interval: 2 * time.Second, Zones: []string{"psys", share.ZoneDRAM},
		PUE: 1.4, WUE: 0.3, CarbonIntensity: 250, EmbodiedKgCO2e: 8766, LifetimeYears: 4,
	}
	vm := state.VM{
		Instance: "0123456789abcdef", Sequence: 9, VCPUTimeNS: 5, CPUTimeNS: 6,
		Zones: map[string]share.ZoneEnergy{"psys": {UsageUJ: 100, IdleUJ: 50}, share.ZoneDRAM: {UsageUJ: 7}},
		Base:  map[string]share.ZoneEnergy{"psys": {UsageUJ: 40, IdleUJ: 5}},
	}
	d := domain.Domain{UUID: "00000000-0000-4000-8000-000000000001", Name: "web", State: domain.StateRunning, VCPUs: 4}
	rec := site.Record(&d, vm, now, 16)
	if rec.Zones[share.ZonePackage] != (share.ZoneEnergy{UsageUJ: 60, IdleUJ: 45}) || rec.Zones[share.ZoneDRAM] != (share.ZoneEnergy{UsageUJ: 7}) || len(rec.Zones) != 2 {
		t.Errorf("zones %+v", rec.Zones)
	}
	if rec.Sequence != 9 || rec.Instance != vm.Instance || rec.Host != "h1" || rec.IntervalSeconds != 2 || rec.CarbonIntensitySource != "host" {
		t.Errorf("record %+v", rec)
	}
	if want := 8766.0 * 1000 / (4 * 8766) * 4 / 16; math.Abs(rec.EmbodiedGramsPerHour-want) > 1e-9 || rec.EmbodiedSource == "" {
		t.Errorf("embodied %v g/h (%q), want %v", rec.EmbodiedGramsPerHour, rec.EmbodiedSource, want)
	}
	if err := rec.Validate(); err != nil {
		t.Errorf("record does not validate: %v", err)
	}
	d.State = domain.StatePaused
	if rec := site.Record(&d, vm, now, 16); rec.EmbodiedGramsPerHour != 0 || rec.EmbodiedSource != "" {
		t.Errorf("a paused VM got embodied %v (%q)", rec.EmbodiedGramsPerHour, rec.EmbodiedSource)
	}
	site.CarbonIntensitySource = "electricitymaps"
	if rec := site.Record(&d, vm, now, 16); rec.CarbonIntensitySource != "electricitymaps" {
		t.Errorf("source %q", rec.CarbonIntensitySource)
	}
}
