package account

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/estimate"
	"github.com/virtwatt/virtwatt/guestagent/follow"
	"github.com/virtwatt/virtwatt/guestagent/measure"
	"github.com/virtwatt/virtwatt/internal/saturate"
	"github.com/virtwatt/virtwatt/share"
)

// FuzzAccount feeds the accountant a sequence of observations decoded from
// the fuzzer's bytes (records of any instance, sequence, timestamp,
// counters and factors, trees, failed reads, repeats), each record passing
// through share.Record.Validate and Sanitize as the reader does, and
// checks after every step what a guest's counters promise whatever the
// share holds:
//   - energy per zone never goes back, and only known zones appear;
//   - emissions, water and embodied grams are finite, >= 0, never go back;
//   - emissions and water never exceed what the energy counted allows at
//     the largest factors accepted (they are priced on that energy only);
//   - power is finite, >= 0 and at most MaxPlausibleWatts;
//   - the factors in force lie in their ranges; read errors never go back;
//   - strings and labels are bounded as the host bounds them.
//
// The seed corpus is under testdata/fuzz/FuzzAccount.
func FuzzAccount(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		in := &fuzzInput{b: data}
		a := New(Options{Pricing: fuzzPricing(in.byte()), PollInterval: time.Second})
		now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		st := fuzzState{host: now, pkg: 1_000_000}
		var last follow.Observation
		var prev measure.Sample
		for step := 0; !in.empty() && step < 64; step++ {
			op := in.byte()
			now = now.Add(guestSteps[int(in.byte())%len(guestSteps)])
			var obs follow.Observation
			if op%8 == 7 {
				// The guest's own estimate while no share is usable.
				e := Estimate{Model: share.ModelCCF}
				if n := in.byte(); n%4 != 0 {
					pkg := in.u64() >> (n % 64)
					e.EnergyUJ = map[string]uint64{share.ZonePackage: pkg, share.ZoneDRAM: uint64(n)}
					e.DynamicUJ = map[string]uint64{share.ZonePackage: in.u64() >> (n % 64)}
				}
				s := a.Estimated(now, e)
				checkInvariants(t, step, prev, s)
				prev = s
				continue
			}
			switch op % 4 {
			case 0:
				obs = st.record(in)
			case 1:
				obs = fuzzTree(in)
			case 2:
				r := follow.Reasons[int(in.byte())%6] // the reasons a read reports
				obs = follow.Observation{Err: errors.New("fuzz: " + r), Reason: r}
			default:
				obs = last
			}
			last = obs
			s := a.Observe(now, obs)
			checkInvariants(t, step, prev, s)
			prev = s
		}
	})
}

var (
	guestSteps = []time.Duration{0, time.Nanosecond, 10 * time.Millisecond, time.Second, time.Minute, time.Hour}
	hostSteps  = []time.Duration{-time.Second, 0, time.Nanosecond, time.Millisecond, time.Second, time.Hour, 24 * time.Hour}
)

// fuzzInput hands out the fuzzer's bytes; past the end it gives zeros.
type fuzzInput struct{ b []byte }

func (in *fuzzInput) empty() bool { return len(in.b) == 0 }

func (in *fuzzInput) byte() byte {
	if len(in.b) == 0 {
		return 0
	}
	c := in.b[0]
	in.b = in.b[1:]
	return c
}

func (in *fuzzInput) u64() uint64 {
	var buf [8]byte
	n := copy(buf[:], in.b)
	in.b = in.b[n:]
	return binary.BigEndian.Uint64(buf[:])
}

func (in *fuzzInput) float() float64 { return math.Float64frombits(in.u64()) }

func fuzzPricing(c byte) Pricing {
	pue, wue := 1.5, 2.0
	switch c % 4 {
	case 1:
		return Pricing{Lookup: estimate.Lookup{Override: 100, OverrideSet: true}}
	case 2:
		return Pricing{Lookup: estimate.Lookup{Country: "FR"}}
	case 3:
		return Pricing{Lookup: estimate.Lookup{Override: 0, OverrideSet: true}, PUE: &pue, WUE: &wue}
	}
	return Pricing{}
}

// fuzzState is what the next record is built from.
type fuzzState struct {
	host time.Time
	seq  uint64
	pkg  uint64
}

// record decodes one record; one that Validate refuses is a garbled read,
// one it accepts is sanitized, as follow.Reader does.
func (st *fuzzState) record(in *fuzzInput) follow.Observation {
	flags := in.byte()
	r := &share.Record{Schema: share.SchemaVersion, Host: "h", Domain: "vm", UUID: "u", IntervalSeconds: 1}
	r.Instance = fmt.Sprint("i", in.byte()%3)
	if d := int64(int8(in.byte())); d >= 0 || uint64(-d) <= st.seq {
		st.seq = uint64(int64(st.seq) + d)
	}
	r.Sequence = st.seq
	st.host = st.host.Add(hostSteps[int(in.byte())%len(hostSteps)])
	r.Timestamp = st.host
	switch in.byte() % 4 {
	case 0:
		st.pkg += uint64(in.byte()) * 1_000_000
	case 1:
		st.pkg = in.u64()
	case 2:
		st.pkg = 0
	default:
		st.pkg = 1 << 63
	}
	idle := st.pkg / 256 * uint64(in.byte()) // a split that moves either way between records
	r.Zones = map[string]share.ZoneEnergy{share.ZonePackage: {UsageUJ: st.pkg - idle, IdleUJ: idle}}
	if flags&1 != 0 {
		r.Zones[share.ZoneDRAM] = share.ZoneEnergy{UsageUJ: in.u64(), IdleUJ: uint64(in.byte())}
	}
	if flags&2 != 0 {
		r.Zones[fmt.Sprint("zone", in.byte())] = share.ZoneEnergy{UsageUJ: in.u64()}
	}
	switch {
	case flags&4 != 0:
		r.PUE = in.float()
	case flags&8 != 0:
		r.PUE = 1 + float64(in.byte())/50
	}
	if flags&16 != 0 {
		r.CarbonIntensity = in.float()
	} else {
		r.CarbonIntensity = float64(in.byte()) * 10
	}
	if flags&32 != 0 {
		r.WUE, r.EmbodiedGramsPerHour = in.float(), in.float()
		r.Schema = 1 + int(in.byte()%2)
		switch in.byte() % 3 {
		case 0:
			r.EmbodiedUG = in.u64()
		case 1:
			r.EmbodiedUG = uint64(in.byte()) * 1000 * st.seq
		}
	}
	if flags&64 != 0 {
		r.IntervalSeconds = in.float()
	}
	if flags&128 != 0 {
		r.Labels = map[string]string{}
		for i := range int(in.byte() % 40) {
			r.Labels[fmt.Sprint("l", i)] = strings.Repeat("v", int(in.byte())*2)
		}
		r.Host = strings.Repeat("h", int(in.byte())*4)
	}
	if err := r.Validate(); err != nil {
		return follow.Observation{Err: err, Reason: follow.Classify(err)}
	}
	return follow.Observation{Record: r, Problems: r.Sanitize()}
}

// fuzzTree decodes one tree as share.ReadTree returns it.
func fuzzTree(in *fuzzInput) follow.Observation {
	flags := in.byte()
	t := share.Tree{PackageUJ: in.u64()}
	switch flags % 3 {
	case 1:
		t.PackageMaxUJ = share.TreeMaxRangeUJ
		t.PackageUJ %= share.TreeMaxRangeUJ
	case 2:
		t.PackageMaxUJ = max(t.PackageUJ, in.u64())
	}
	if flags&4 != 0 {
		t.HasDRAM, t.DRAMUJ = true, uint64(in.byte())*1_000_000
	}
	return follow.Observation{Tree: &t}
}

func checkInvariants(t *testing.T, step int, prev, s measure.Sample) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("step %d: "+format, append([]any{step}, args...)...)
	}
	for z, e := range prev.EnergyUJ {
		if s.EnergyUJ[z] < e {
			fail("energy[%s] went back from %d to %d", z, e, s.EnergyUJ[z])
		}
	}
	byProv := map[string]uint64{}
	// A record read right after the tree's first reading takes its energy
	// over, relabelled by the record's provenance (see observeRecord):
	// the only step a provenance's series may lose energy.
	relabel := prev.Mode == ModeTree && s.Mode == ModeRecord
	for p, zones := range s.EnergyByProvenance {
		for z, e := range zones {
			if e < prev.EnergyByProvenance[p][z] && !relabel {
				fail("energy %v/%s went back from %d to %d", p, z, prev.EnergyByProvenance[p][z], e)
			}
			byProv[z], _ = saturate.Add(byProv[z], e)
		}
	}
	for p, zones := range prev.EnergyByProvenance {
		for z := range zones {
			if _, ok := s.EnergyByProvenance[p][z]; !ok && !relabel {
				fail("energy %v/%s vanished", p, z)
			}
		}
	}
	for z, e := range s.EnergyUJ {
		if byProv[z] != e && e != math.MaxUint64 {
			fail("energy[%s] %d µJ, by provenance %d", z, e, byProv[z])
		}
	}
	var kwh float64
	for z, e := range s.EnergyUJ {
		if !share.KnownZone(z) {
			fail("unknown zone %q counted", z)
		}
		kwh += estimate.KWh(e)
	}
	for name, v := range map[string][2]float64{
		"emissions": {prev.EmissionsGrams, s.EmissionsGrams},
		"water":     {prev.WaterLiters, s.WaterLiters},
		"embodied":  {prev.EmbodiedGrams, s.EmbodiedGrams},
	} {
		if math.IsNaN(v[1]) || math.IsInf(v[1], 0) || v[1] < 0 {
			fail("%s = %v", name, v[1])
		}
		if v[1] < v[0] {
			fail("%s went back from %v to %v", name, v[0], v[1])
		}
	}
	var partsUJ uint64
	for p, e := range s.EnergyPartUJ {
		if e < prev.EnergyPartUJ[p] || s.EmissionsPartGrams[p] < prev.EmissionsPartGrams[p] {
			fail("part %s went back: %d → %d µJ, %v → %v g", p, prev.EnergyPartUJ[p], e, prev.EmissionsPartGrams[p], s.EmissionsPartGrams[p])
		}
		partsUJ, _ = saturate.Add(partsUJ, e)
	}
	if total := s.TotalEnergyUJ(); partsUJ != total && total != math.MaxUint64 {
		fail("energy by part sums to %d µJ, the zones to %d", partsUJ, total)
	}
	if limit := kwh * share.MaxPUE * share.MaxCarbonIntensity; s.EmissionsGrams > limit*(1+1e-9)+1e-9 {
		fail("emissions %v g exceed what %v kWh allow (%v)", s.EmissionsGrams, kwh, limit)
	}
	if limit := kwh * share.MaxWUE; s.WaterLiters > limit*(1+1e-9)+1e-9 {
		fail("water %v L exceeds what %v kWh allow (%v)", s.WaterLiters, kwh, limit)
	}
	for z, p := range s.PowerW {
		if math.IsNaN(p) || math.IsInf(p, 0) || p < 0 || p > MaxPlausibleWatts {
			fail("power[%s] = %v", z, p)
		}
	}
	if v := s.IntensityGPerKWh; !(v >= 0 && v <= share.MaxCarbonIntensity) {
		fail("intensity %v in force", v)
	}
	if !(s.PUE >= share.MinPUE && s.PUE <= share.MaxPUE) || !(s.WUE >= 0 && s.WUE <= share.MaxWUE) {
		fail("pue %v, wue %v in force", s.PUE, s.WUE)
	}
	for r, n := range prev.ReadErrors {
		if s.ReadErrors[r] < n {
			fail("read errors[%s] went back from %d to %d", r, n, s.ReadErrors[r])
		}
	}
	if len(s.Labels) > share.MaxLabels || len(s.Host) > share.MaxFieldBytes {
		fail("%d labels, host of %d bytes", len(s.Labels), len(s.Host))
	}
	for n, v := range s.Labels {
		if len(v) > share.MaxLabelValueBytes || share.ValidLabelName(n) != nil {
			fail("label %q of %d bytes", n, len(v))
		}
	}
}
