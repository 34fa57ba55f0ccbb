package hostagent

import (
	"context"
	"math"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/virtwatt/virtwatt/hostagent/state"
	"github.com/virtwatt/virtwatt/share"
)

// renderedByProvenance is, from the rendered metrics, family name's energy
// in zone by "method/model", in µJ (host energy: every socket; domain
// energy: every domain and part).
func renderedByProvenance(t *testing.T, reg *prometheus.Registry, name, zone string) map[string]uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]uint64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			if l["zone"] == zone {
				out[l["method"]+"/"+l["model"]] += uint64(math.Round(m.GetCounter().GetValue() * 1e6))
			}
		}
	}
	return out
}

// TestRestartOnEstimateKeepsMeasuredEnergyMeasured: an agent measures by
// RAPL, then restarts on the estimating meter (meter = auto once RAPL is
// unreadable) over the same state. On the metrics endpoint the
// measured/rapl series keep exactly the energy measured before and stop
// growing, the estimated/tdp series grow from 0, and their sum is the
// state's total to the µJ (host and domains): `sum by (method)` is right.
func TestRestartOnEstimateKeepsMeasuredEnergyMeasured(t *testing.T) {
	h := newEstimatingHost(t, "xeon-2s", 3)
	cfg := estimatingConfig(t, h)
	measured := state.ProvenanceKey(share.MethodMeasured, share.ModelRAPL)
	estimated := state.ProvenanceKey(share.MethodEstimated, share.ModelTDP)
	const zone = share.ZonePackage

	src := h.sources() // the fake RAPL meter
	first := newTestAgentWith(t, cfg, src, state.New())
	for range 10 {
		h.advance(time.Second)
		h.writeStat(t)
		if !first.Tick(context.Background()) {
			t.Fatal("RAPL tick failed")
		}
	}
	oldHost := first.st.HostEnergyUJ[hostKey(zone, 0)] + first.st.HostEnergyUJ[hostKey(zone, 1)]
	var oldVMs uint64
	for _, vm := range first.st.VMs {
		oldVMs += vm.Zones[zone].TotalUJ()
	}
	if oldHost == 0 || oldVMs == 0 {
		t.Fatalf("the RAPL run measured %d µJ, gave the VMs %d µJ", oldHost, oldVMs)
	}

	st, err := state.Load(cfg.StateFile)
	if err != nil {
		t.Fatal(err)
	}
	m, err := openMeter(cfg, h.Now, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	second := newTestAgentWith(t, cfg, Sources{Meter: m, CPU: h.CPU, Domains: h, Now: h.Now}, st)
	reg, err := newRegistry(second, NewObserver())
	if err != nil {
		t.Fatal(err)
	}
	prevEst := map[string]uint64{}
	for i := range 6 {
		if i > 0 {
			h.advance(time.Second)
			h.writeStat(t)
		}
		if !second.Tick(context.Background()) {
			t.Fatalf("estimating tick %d failed", i)
		}
		var vms uint64
		for _, vm := range second.st.VMs {
			vms += vm.Zones[zone].TotalUJ()
		}
		for _, c := range []struct {
			family string
			total  uint64
			old    uint64
		}{
			{"virtwatt_host_energy_joules_total", second.st.HostEnergyUJ[hostKey(zone, 0)] + second.st.HostEnergyUJ[hostKey(zone, 1)], oldHost},
			{"virtwatt_domain_energy_joules_total", vms, oldVMs},
		} {
			got := renderedByProvenance(t, reg, c.family, zone)
			if got[measured] != c.old {
				t.Errorf("tick %d: %s{%s} is %d µJ, the RAPL run measured %d µJ", i, c.family, measured, got[measured], c.old)
			}
			if got[measured]+got[estimated] != c.total || len(got) != 2 {
				t.Errorf("tick %d: %s by provenance %v, Σ ≠ the state's total %d µJ", i, c.family, got, c.total)
			}
			if i > 1 && got[estimated] <= prevEst[c.family] {
				t.Errorf("tick %d: %s{%s} %d µJ, not above %d µJ a tick before", i, c.family, estimated, got[estimated], prevEst[c.family])
			}
			prevEst[c.family] = got[estimated]
		}
	}
	checkConservation(t, second.st, cfg.Zones)
	if promtool, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(gatherText(t, reg))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("promtool check metrics: %v\n%s", err, out)
		}
	}
}
