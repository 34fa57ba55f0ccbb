package share

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// encodeStd is what the writer wrote before appendRecordJSON.
func encodeStd(t testing.TB, rec *Record) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(rec); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestAppendRecordJSONMatchesEncodingJSON: byte for byte what
// encoding/json writes, for hand-picked and random records.
func TestAppendRecordJSONMatchesEncodingJSON(t *testing.T) {
	nasty := []string{"", "plain", `q"uote\back`, "ctl\x00\x01\x1f\x7f\b\f\n\r\t", "bad\xff\xfeutf8\xc3", "ls\u2028ps\u2029", "<html>&amp;", "é-ünï-日本", strings.Repeat("x", 300)}
	floats := []float64{0, 1, -1, 0.5, 1.2, 56, 1e-6, 9.99e-7, 1e-7, 1e20, 1e21, 1.5e300, 5e-324, math.MaxFloat64, -2.5e-9, 123456.789}
	var recs []*Record
	base := testRecord(7, 123456789, 4242)
	recs = append(recs, base)
	nilZones := testRecord(1, 1, 1)
	nilZones.Zones = nil
	noLabels := testRecord(1, 1, 1)
	noLabels.Labels = map[string]string{}
	zoned := testRecord(1, 1, 1)
	zoned.Timestamp = time.Date(2026, 1, 2, 3, 4, 5, 600, time.FixedZone("x", -(5*3600+30*60)))
	recs = append(recs, nilZones, noLabels, zoned)
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	pickF := func() float64 { return floats[rng.IntN(len(floats))] }
	for range 500 {
		r := testRecord(rng.Uint64(), rng.Uint64N(1<<62), rng.Uint64N(1<<40))
		r.Schema, r.VCPUs = rng.IntN(5)-1, rng.IntN(300)
		r.Host, r.Domain, r.UUID, r.Instance = pick(nasty), pick(nasty), pick(nasty), pick(nasty)
		r.IntervalSeconds, r.PUE, r.WUE, r.CarbonIntensity, r.EmbodiedGramsPerHour = pickF(), pickF(), pickF(), pickF(), pickF()
		r.CarbonIntensitySource, r.EmbodiedSource = pick(nasty), pick(nasty)
		r.Method, r.Model, r.IdleModel, r.CPUModel, r.CarbonIntensityZone = pick(nasty), pick(nasty), pick(nasty), pick(nasty), pick(nasty)
		if rng.IntN(2) == 0 {
			r.EmbodiedUG = rng.Uint64() >> rng.IntN(64)
		}
		if rng.IntN(2) == 0 {
			r.CarbonIntensityTime = time.Unix(rng.Int64N(1<<35), rng.Int64N(1e9)).In(time.FixedZone("i", rng.IntN(20*3600)-10*3600))
		}
		r.Timestamp = time.Unix(rng.Int64N(1<<35), rng.Int64N(1e9)).In(time.FixedZone("z", rng.IntN(20*3600)-10*3600))
		r.Labels = map[string]string{}
		for range rng.IntN(6) {
			r.Labels[pick(nasty)+pick(nasty)] = pick(nasty)
		}
		r.Zones = map[string]ZoneEnergy{}
		for _, z := range []string{ZonePackage, ZoneDRAM, "core", "psys", "uncore"} {
			if rng.IntN(2) == 0 {
				r.Zones[z] = ZoneEnergy{UsageUJ: rng.Uint64(), IdleUJ: rng.Uint64()}
			}
		}
		recs = append(recs, r)
	}
	for i, r := range recs {
		got, _, ok := appendRecordJSON(nil, r, nil)
		if !ok {
			t.Fatalf("record %d: appendRecordJSON refused %+v", i, r)
		}
		if want := encodeStd(t, r); !bytes.Equal(got, want) {
			t.Fatalf("record %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

// TestAppendRecordJSONDefers: what encoding/json refuses is left to it.
func TestAppendRecordJSONDefers(t *testing.T) {
	for _, mut := range []func(r *Record){
		func(r *Record) { r.PUE = math.NaN() },
		func(r *Record) { r.IntervalSeconds = math.Inf(1) },
		func(r *Record) { r.Timestamp = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
		func(r *Record) { r.Timestamp = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC) },
	} {
		r := testRecord(1, 1, 1)
		mut(r)
		if _, _, ok := appendRecordJSON(nil, r, nil); ok {
			t.Errorf("appendRecordJSON accepted %+v", r)
		}
	}
}

// TestAppendRecordJSONAllocatesNothing: with its buffers grown, encoding
// a record allocates nothing.
func TestAppendRecordJSONAllocatesNothing(t *testing.T) {
	rec := testRecord(3, 3, 3)
	rec.Labels["project"] = "p"
	b, keys, _ := appendRecordJSON(nil, rec, nil)
	allocs := testing.AllocsPerRun(100, func() {
		b, keys, _ = appendRecordJSON(b[:0], rec, keys)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per record, want 0", allocs)
	}
}
