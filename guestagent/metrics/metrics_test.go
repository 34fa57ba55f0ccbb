package metrics

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/virtwatt/virtwatt/guestagent/measure"
)

func upSample() measure.Sample {
	s := measure.Sample{
		Time: time.Unix(1_800_000_000, 0), HostTime: time.Unix(1_799_999_999, 500_000_000), Up: true,
		Host: "hv1", Domain: "vm1", UUID: "u-1", Mode: "record",
		EnergyUJ:         map[string]uint64{"package": 12_500_000, "dram": 1_000_000},
		PowerW:           map[string]float64{"package": 7.5, "dram": 0.5},
		EmissionsGrams:   1.25,
		WaterLiters:      0.01,
		EmbodiedGrams:    0.5,
		EmbodiedSource:   "host",
		IntensityGPerKWh: 56, IntensitySource: "country:FRA (Our World in Data 2023)",
		PUE: 1.2, PUESource: "guest", WUE: 0, WUESource: "default",
		LastUpdate: time.Unix(1_799_999_999, 500_000_000),
		ReadErrors: map[string]uint64{"garbled": 2},
	}
	s.EmissionsPartGrams = map[string]float64{"dynamic": 1, "idle": 0.25}
	return s
}

func TestCollectUp(t *testing.T) {
	c := New()
	c.Update(upSample())
	want := `
# HELP virtwatt_vm_energy_joules_total Energy of this VM per zone, cumulative since the agent started counting (it includes the energy on the host's counter at that time), by how it was obtained: method measured or estimated, and model (rapl: the host's RAPL counters; tdp, calibrated: the host's own estimate; ccf: the guest's own Cloud Carbon Footprint estimate while no share is usable). Each series only grows; their sum is the VM's energy.
# TYPE virtwatt_vm_energy_joules_total counter
virtwatt_vm_energy_joules_total{method="measured",model="rapl",zone="dram"} 1
virtwatt_vm_energy_joules_total{method="measured",model="rapl",zone="package"} 12.5
# HELP virtwatt_vm_power_watts Power of this VM over the last interval, per zone, with how it was obtained (see virtwatt_vm_energy_joules_total); absent while unknown or stale.
# TYPE virtwatt_vm_power_watts gauge
virtwatt_vm_power_watts{method="measured",model="rapl",zone="dram"} 0.5
virtwatt_vm_power_watts{method="measured",model="rapl",zone="package"} 7.5
# HELP virtwatt_share_up 1 when the share is present, valid and fresh; 0 otherwise.
# TYPE virtwatt_share_up gauge
virtwatt_share_up 1
# HELP virtwatt_share_last_update_timestamp_seconds When the share last changed: the host's timestamp in its record, or the guest's clock for a tree-only share.
# TYPE virtwatt_share_last_update_timestamp_seconds gauge
virtwatt_share_last_update_timestamp_seconds 1.7999999995e+09
# HELP virtwatt_pue Power usage effectiveness in force, with where it came from.
# TYPE virtwatt_pue gauge
virtwatt_pue{source="guest"} 1.2
# HELP virtwatt_carbon_intensity_grams_per_kwh Carbon intensity in force, in grams CO2e per kWh, with where it came from.
# TYPE virtwatt_carbon_intensity_grams_per_kwh gauge
virtwatt_carbon_intensity_grams_per_kwh{source="country:FRA (Our World in Data 2023)"} 56
# HELP virtwatt_vm_info Identity of this VM as its host names it; always 1.
# TYPE virtwatt_vm_info gauge
virtwatt_vm_info{domain="vm1",host="hv1",mode="record",uuid="u-1"} 1
# HELP virtwatt_vm_emissions_grams_total Operational emissions of this VM in grams CO2e: energy × PUE × carbon intensity, each step priced at the intensity of its record, by part of the energy (dynamic: the VM's own usage; idle: its share of the host's idle power; unsplit: a share that gives no split). Embodied emissions are virtwatt_vm_embodied_grams_total.
# TYPE virtwatt_vm_emissions_grams_total counter
virtwatt_vm_emissions_grams_total{part="dynamic"} 1
virtwatt_vm_emissions_grams_total{part="idle"} 0.25
# HELP virtwatt_vm_embodied_grams_total This VM's share of the host's embodied emissions in grams CO2e: the host's own counter (the record's embodied_ug) summed over its instances, or a schema-1 host's rate accumulated while the share was up; absent when the host gives none.
# TYPE virtwatt_vm_embodied_grams_total counter
virtwatt_vm_embodied_grams_total 0.5
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"virtwatt_vm_energy_joules_total", "virtwatt_vm_power_watts", "virtwatt_share_up",
		"virtwatt_share_last_update_timestamp_seconds", "virtwatt_pue", "virtwatt_carbon_intensity_grams_per_kwh",
		"virtwatt_vm_info", "virtwatt_vm_emissions_grams_total", "virtwatt_vm_embodied_grams_total"); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(readErrors(t, c, "garbled")); got != 2 {
		t.Fatalf("garbled errors = %v", got)
	}
}

// readErrors picks one reason's counter out of a collection.
func readErrors(t *testing.T, c *Collector, reason string) prometheus.Collector {
	t.Helper()
	ch := make(chan prometheus.Metric, 100)
	c.Collect(ch)
	close(ch)
	for m := range ch {
		if m.Desc() == readErrorsDesc && strings.Contains(metricString(t, m), `"`+reason+`"`) {
			return constCollector{m}
		}
	}
	t.Fatalf("no read error counter for %q", reason)
	return nil
}

type constCollector struct{ m prometheus.Metric }

func (c constCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.m.Desc() }
func (c constCollector) Collect(ch chan<- prometheus.Metric) { ch <- c.m }

func metricString(t *testing.T, m prometheus.Metric) string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(constCollector{m})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

func TestCollectBeforeTheShare(t *testing.T) {
	c := New()
	names := gatherNames(t, c)
	for _, n := range []string{"virtwatt_share_up", "virtwatt_share_read_errors_total"} {
		if !names[n] {
			t.Errorf("%s missing before the share was read", n)
		}
	}
	for _, n := range []string{"virtwatt_vm_energy_joules_total", "virtwatt_vm_power_watts", "virtwatt_vm_emissions_grams_total",
		"virtwatt_vm_water_liters_total", "virtwatt_share_last_update_timestamp_seconds"} {
		if names[n] {
			t.Errorf("%s exported before the share was ever read", n)
		}
	}
	if v := testutil.ToFloat64(upOnly{c}); v != 0 {
		t.Errorf("virtwatt_share_up = %v, want 0", v)
	}
}

func TestCollectStaleHasNoPower(t *testing.T) {
	s := upSample()
	s.Up = false
	c := New()
	c.Update(s)
	names := gatherNames(t, c)
	if names["virtwatt_vm_power_watts"] {
		t.Error("power exported while the share is down")
	}
	if !names["virtwatt_vm_energy_joules_total"] {
		t.Error("energy counters must keep their last values while down")
	}
}

// upOnly exposes only virtwatt_share_up, for testutil.ToFloat64.
type upOnly struct{ c *Collector }

func (u upOnly) Describe(ch chan<- *prometheus.Desc) { ch <- upDesc }
func (u upOnly) Collect(ch chan<- prometheus.Metric) {
	all := make(chan prometheus.Metric, 100)
	u.c.Collect(all)
	close(all)
	for m := range all {
		if m.Desc() == upDesc {
			ch <- m
		}
	}
}

func gatherNames(t *testing.T, c prometheus.Collector) map[string]bool {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	return names
}

// TestPromtoolCheckMetrics pipes the exposition through `promtool check
// metrics` when promtool is installed (CI installs it).
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Log("promtool not in PATH: lint not run (install the prometheus package to run it)")
		return
	}
	c := New()
	c.SetClock(func() time.Time { return estimatedSample().Time })
	c.Update(estimatedSample()) // both methods' series, and estimated power
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = &b
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestCollectJudgesTheSampleAge: a Sample older than its StaleAfter (the
// poll loop stuck in a read of a dead share, with no new Sample to say so)
// exports share_up 0 and no power, whatever its Up said.
func TestCollectJudgesTheSampleAge(t *testing.T) {
	s := upSample()
	s.StaleAfter = 3 * time.Second
	now := s.Time.Add(time.Second)
	c := New()
	c.SetClock(func() time.Time { return now })
	c.Update(s)
	if got := testutil.ToFloat64(upOnly{c}); got != 1 {
		t.Fatalf("share_up = %v within the staleness limit, want 1", got)
	}
	now = s.Time.Add(3*time.Second + time.Millisecond)
	if got := testutil.ToFloat64(upOnly{c}); got != 0 {
		t.Fatalf("share_up = %v past the staleness limit, want 0", got)
	}
	names := gatherNames(t, c)
	if names["virtwatt_vm_power_watts"] {
		t.Error("power exported from a sample past the staleness limit")
	}
	if !names["virtwatt_vm_energy_joules_total"] {
		t.Error("energy counters must keep their last values")
	}
}

// TestEmissionParts: emissions by part, the sum over parts being the
// Sample's total; dynamic and idle at 0 from the first read of a record, a
// tree's energy unsplit, and a Sample without parts exported as unsplit.
func TestEmissionParts(t *testing.T) {
	tests := []struct {
		name string
		s    measure.Sample
		want map[string]float64
	}{
		{"record, nothing yet", measure.Sample{Mode: "record"}, map[string]float64{"dynamic": 0, "idle": 0}},
		{"record", measure.Sample{Mode: "record", EmissionsGrams: 3, EmissionsPartGrams: map[string]float64{"dynamic": 2, "idle": 1}},
			map[string]float64{"dynamic": 2, "idle": 1}},
		{"tree", measure.Sample{Mode: "tree", EmissionsGrams: 4, EmissionsPartGrams: map[string]float64{"unsplit": 4}},
			map[string]float64{"unsplit": 4}},
		{"record then tree", measure.Sample{Mode: "tree", EmissionsGrams: 6, EmissionsPartGrams: map[string]float64{"dynamic": 2, "idle": 1, "unsplit": 3}},
			map[string]float64{"dynamic": 2, "idle": 1, "unsplit": 3}},
		{"a sampler that does not split", measure.Sample{EmissionsGrams: 5}, map[string]float64{"unsplit": 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.s.EnergyUJ = map[string]uint64{"package": 1}
			c := New()
			c.Update(tt.s)
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(c)
			mfs, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]float64{}
			for _, mf := range mfs {
				if mf.GetName() != "virtwatt_vm_emissions_grams_total" {
					continue
				}
				for _, m := range mf.GetMetric() {
					if len(m.GetLabel()) != 1 || m.GetLabel()[0].GetName() != "part" {
						t.Fatalf("labels %v, want part alone", m.GetLabel())
					}
					got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("parts %v, want %v", got, tt.want)
			}
			for p, v := range tt.want {
				if g, ok := got[p]; !ok || g != v {
					t.Fatalf("parts %v, want %v", got, tt.want)
				}
			}
		})
	}
}

// estimatedSample is a guest estimating after a share went away: energy
// under both provenances, power from the estimate, the share down.
func estimatedSample() measure.Sample {
	s := upSample()
	s.Up, s.Mode, s.Method, s.Model, s.IdleModel = false, measure.ModeEstimate, "estimated", "ccf", ""
	s.StaleAfter = 3 * time.Second
	s.EnergyByProvenance = map[measure.Provenance]map[string]uint64{
		{Method: "measured", Model: "rapl"}: {"package": 10_000_000, "dram": 1_000_000},
		{Method: "estimated", Model: "ccf"}: {"package": 2_500_000},
	}
	s.PowerW = map[string]float64{"package": 3.25, "dram": 0.784}
	return s
}

// TestCollectEstimated: while the guest estimates, virtwatt_share_up is 0,
// power is exported labelled estimated/ccf, and energy per (method, model),
// the measured series keeping its value beside the estimated one.
func TestCollectEstimated(t *testing.T) {
	s := estimatedSample()
	now := s.Time
	c := New()
	c.SetClock(func() time.Time { return now })
	c.Update(s)
	want := `
# HELP virtwatt_share_up 1 when the share is present, valid and fresh; 0 otherwise.
# TYPE virtwatt_share_up gauge
virtwatt_share_up 0
# HELP virtwatt_vm_energy_joules_total Energy of this VM per zone, cumulative since the agent started counting (it includes the energy on the host's counter at that time), by how it was obtained: method measured or estimated, and model (rapl: the host's RAPL counters; tdp, calibrated: the host's own estimate; ccf: the guest's own Cloud Carbon Footprint estimate while no share is usable). Each series only grows; their sum is the VM's energy.
# TYPE virtwatt_vm_energy_joules_total counter
virtwatt_vm_energy_joules_total{method="estimated",model="ccf",zone="package"} 2.5
virtwatt_vm_energy_joules_total{method="measured",model="rapl",zone="dram"} 1
virtwatt_vm_energy_joules_total{method="measured",model="rapl",zone="package"} 10
# HELP virtwatt_vm_power_watts Power of this VM over the last interval, per zone, with how it was obtained (see virtwatt_vm_energy_joules_total); absent while unknown or stale.
# TYPE virtwatt_vm_power_watts gauge
virtwatt_vm_power_watts{method="estimated",model="ccf",zone="dram"} 0.784
virtwatt_vm_power_watts{method="estimated",model="ccf",zone="package"} 3.25
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"virtwatt_share_up", "virtwatt_vm_energy_joules_total", "virtwatt_vm_power_watts"); err != nil {
		t.Fatal(err)
	}
	// An estimate too old (the poll loop stuck) gives no power either.
	now = s.Time.Add(s.StaleAfter + time.Millisecond)
	if gatherNames(t, c)["virtwatt_vm_power_watts"] {
		t.Error("power exported from an estimate past its staleness limit")
	}
}
