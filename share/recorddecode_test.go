package share

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// sameParse fails unless ParseRecord and parseRecordJSON (encoding/json:
// the oracle) agree on b — the same record or the same error — and unless
// whatever decodeRecordFast accepts, the oracle accepts as the same record.
// It reports whether the fast path took b.
func sameParse(t *testing.T, b []byte) bool {
	t.Helper()
	want, werr := parseRecordJSON(b)
	fast := new(Record)
	took := decodeRecordFast(bytes.TrimSpace(b), fast)
	if took {
		if werr != nil {
			t.Fatalf("decodeRecordFast accepted what encoding/json refuses (%v):\n%q", werr, b)
		}
		if !reflect.DeepEqual(fast, want) {
			t.Fatalf("decodeRecordFast and encoding/json disagree on\n%q:\n fast %+v\n json %+v", b, fast, want)
		}
	}
	got, gerr := ParseRecord(b)
	switch {
	case (gerr == nil) != (werr == nil):
		t.Fatalf("ParseRecord = %v, encoding/json = %v, on\n%q", gerr, werr, b)
	case gerr != nil && gerr.Error() != werr.Error():
		t.Fatalf("ParseRecord says %q, encoding/json %q, on\n%q", gerr, werr, b)
	case gerr != nil && got != nil:
		t.Fatalf("ParseRecord returned a record with its error %v", gerr)
	case !reflect.DeepEqual(got, want):
		t.Fatalf("ParseRecord and encoding/json disagree on\n%q:\n got %+v\nwant %+v", b, got, want)
	}
	return took
}

// decodeSeeds are records as the writer writes them, and each way of
// writing one that encoding/json reads in its own way: case variants and
// duplicates of keys, nulls, escapes, invalid UTF-8, numbers of the wrong
// kind, range or form, white space, unknown fields, values of the wrong
// type, cut and garbled input.
func decodeSeeds(t testing.TB) [][]byte {
	valid := string(writerJSON(t, testRecord(5, 1000, 100)))
	v2 := testRecord(6, 2000, 0)
	v2.Method, v2.Model, v2.IdleModel, v2.CPUModel = MethodEstimated, ModelTDP, IdleModelFitted, "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz"
	v2.EmbodiedUG, v2.EmbodiedGramsPerHour, v2.EmbodiedSource = 123456, 0.25, "host: embodied"
	v2.CarbonIntensityZone, v2.CarbonIntensityTime = "DE", time.Date(2026, 11, 26, 11, 0, 0, 0, time.UTC)
	v2.CarbonIntensitySource = "electricitymaps"
	v2.Timestamp = time.Date(2026, 11, 26, 12, 0, 0, 123456789, time.FixedZone("", 3600))
	seeds := []string{valid, string(writerJSON(t, v2)), "", " ", "{}", "[]", "null", `{"schema":2}`}
	rep := func(old, new string) { seeds = append(seeds, strings.Replace(valid, old, new, 1)) }
	for _, key := range []string{"schema", "host", "uuid", "instance", "sequence", "timestamp", "zones", "pue", "labels", "usage_uj", "package"} {
		rep(`"`+key+`":`, `"`+strings.ToUpper(key[:1])+key[1:]+`":`)  // a case variant
		rep(`"`+key+`":`, `"`+strings.ReplaceAll(key, "s", "ſ")+`":`) // U+017F folds to s
		rep(`"`+key+`":`, `"`+key+`" :`)
		rep(`"`+key+`":`, `"\u00`+hexByte(key[0])+key[1:]+`":`) // an escaped key
	}
	for _, dup := range []string{`"schema":1,`, `"schema":null,`, `"host":"other",`, `"instance":"i-2",`, `"sequence":9,`, `"zones":{"dram":{"usage_uj":7}},`, `"zones":null,`, `"labels":{"a":"b"},`, `"labels":null,`, `"timestamp":null,`, `"pue":3,`} {
		rep(`"vcpus":`, dup+`"vcpus":`) // later, so it wins
		rep(`{"schema":`, `{`+dup+`"schema":`)
	}
	for _, s := range [][2]string{
		{`"schema":2`, `"schema":2.0`}, {`"schema":2`, `"schema":2e0`}, {`"schema":2`, `"schema":02`}, {`"schema":2`, `"schema":"2"`},
		{`"schema":2`, `"schema":-0`}, {`"schema":2`, `"schema":9223372036854775808`}, {`"schema":2`, `"schema":-9223372036854775809`},
		{`"sequence":5`, `"sequence":-5`}, {`"sequence":5`, `"sequence":18446744073709551615`}, {`"sequence":5`, `"sequence":18446744073709551616`},
		{`"sequence":5`, `"sequence":5.0`}, {`"sequence":5`, `"sequence":null`}, {`"sequence":5`, `"sequence":true`},
		{`"vcpus":2`, `"vcpus":-2`}, {`"vcpus":2`, `"vcpus":-0`}, {`"vcpus":2`, `"vcpus":1e1`},
		{`"pue":1.2`, `"pue":1.20`}, {`"pue":1.2`, `"pue":12e-1`}, {`"pue":1.2`, `"pue":1.2E+0`}, {`"pue":1.2`, `"pue":1e999`}, {`"pue":1.2`, `"pue":-0`},
		{`"pue":1.2`, `"pue":1.`}, {`"pue":1.2`, `"pue":.5`}, {`"pue":1.2`, `"pue":01.2`}, {`"pue":1.2`, `"pue":0x1p0`}, {`"pue":1.2`, `"pue":NaN`},
		{`"pue":1.2`, `"pue":null`}, {`"pue":1.2`, `"pue":"1.2"`}, {`"pue":1.2`, `"pue":4.9e-324`}, {`"pue":1.2`, `"pue":1e-400`},
		{`"interval_seconds":1`, `"interval_seconds":1e0`}, {`"interval_seconds":1`, `"interval_seconds":-1`},
		{`"host":"hv1"`, `"host":"h\u00761"`}, {`"host":"hv1"`, `"host":"h\"v1"`}, {`"host":"hv1"`, "\"host\":\"h\xffv1\""}, {`"host":"hv1"`, "\"host\":\"h\tv1\""},
		{`"host":"hv1"`, `"host":"日本"`}, {`"host":"hv1"`, "\"host\":\"\xed\xa0\x80\""}, {`"host":"hv1"`, `"host":null`}, {`"host":"hv1"`, `"host":1`},
		{`"host":"hv1"`, `"host":"\ud800"`}, {`"host":"hv1"`, `"host":"` + strings.Repeat("h", 300) + `"`},
		{`"instance":"i-1"`, `"instance":""`}, {`"uuid":"6d5b1c8e-3f0a-4c1e-9d8e-0a1b2c3d4e5f"`, `"uuid":""`},
		{`"timestamp":"2026-`, `"timestamp":"\u0032026-`}, {`"timestamp":"2026-11-26T12:00:05Z"`, `"timestamp":"2026-11-26T12:00:05+24:00"`},
		{`"timestamp":"2026-11-26T12:00:05Z"`, `"timestamp":"2026-11-26T12:00:05.000+01:00"`}, {`"timestamp":"2026-11-26T12:00:05Z"`, `"timestamp":"2026-11-26 12:00:05Z"`},
		{`"timestamp":"2026-11-26T12:00:05Z"`, `"timestamp":"0000-01-01T00:00:00Z"`}, {`"timestamp":"2026-11-26T12:00:05Z"`, `"timestamp":1}`},
		{`"zones":{`, `"zones":{"package":null,`}, {`"zones":{`, `"zones":{"gpu":{"usage_uj":1},`}, {`"zones":{`, `"zones":{"package":{},`},
		{`"zones":{`, `"zones":{"Package":{"usage_uj":1},`}, {`"zones":{`, `"zones":{"pack\u0061ge":{"usage_uj":1},`},
		{`"usage_uj":500`, `"usage_uj":500,"usage_uj":1`}, {`"usage_uj":500`, `"Usage_uj":500`}, {`"usage_uj":500`, `"usage_uj":500,"other":1`},
		{`"usage_uj":500`, `"usage_uj":18446744073709551615`}, {`"zones":{`, `"zones":{"dram":{"usage_uj":1,"idle_uj":18446744073709551615},`},
		{`"labels":{"team":"ml"}`, `"labels":{}`}, {`"labels":{"team":"ml"}`, `"labels":{"team":"ml","team":"x"}`},
		{`"labels":{"team":"ml"}`, `"labels":{"Team":"ml","team":"x","__x":"y","1a":"b"}`}, {`"labels":{"team":"ml"}`, `"labels":{"team":1}`},
		{`"labels":{"team":"ml"}`, `"labels":{"team":null}`}, {`"labels":{"team":"ml"}`, `"labels":[]`},
		{`"vcpus":`, `"gpu_zones":{"gpu0":[1,{"a":null}]},"vcpus":`}, {`"vcpus":`, `"method":"estimated","model":"RAPL","vcpus":`},
		{`"vcpus":`, `"method":"guessed","vcpus":`}, {`"vcpus":`, `"model":"tdp","vcpus":`}, {`"vcpus":`, `"cpu_model":"x\u001b","vcpus":`},
		{`"vcpus":`, `"carbon_intensity_time":"2026-01-01T00:00:00+24:00","vcpus":`}, {`"vcpus":`, `"carbon_intensity_time":null,"vcpus":`},
		{`"vcpus":`, `"embodied_ug":0,"vcpus":`}, {`"vcpus":`, `"embodied_ug":-1,"vcpus":`},
		{`{`, "{\n  "}, {`,"`, ",\t\"`"}, {`:`, " : "}, {`}}`, "}\r\n}"}, {`,`, `,,`}, {`}`, `},`}, {`{`, `{,`},
	} {
		rep(s[0], s[1])
	}
	seeds = append(seeds, valid+" ", "\n\t "+valid+"\n", "\u00a0"+valid+"\u0085", valid+valid, valid+"x", valid+"}", "["+valid+"]",
		valid[:len(valid)/2], valid[:len(valid)-1], strings.TrimSuffix(valid, "\n")+`,}`, "\x00"+valid, `{"schema":3,"zones":[1]}`, `{"schema":0}`)
	out := make([][]byte, len(seeds))
	for i, s := range seeds {
		out[i] = []byte(s)
	}
	return out
}

func hexByte(c byte) string { return string([]byte{jsonHex[c>>4], jsonHex[c&0xF]}) }

// writerJSON is rec as the writer writes it.
func writerJSON(t testing.TB, rec *Record) []byte {
	t.Helper()
	b, _, ok := appendRecordJSON(nil, rec, nil)
	if !ok {
		t.Fatalf("appendRecordJSON refused %+v", rec)
	}
	return b
}

// TestDecodeRecordFastAgrees: on each seed, ParseRecord and encoding/json
// agree, and the fast path accepts only what encoding/json accepts, as
// the same record.
func TestDecodeRecordFastAgrees(t *testing.T) {
	took := 0
	seeds := decodeSeeds(t)
	for _, b := range seeds {
		if sameParse(t, b) {
			took++
		}
	}
	// The seeds that are valid in the writer's form must take the fast
	// path (else it would never be used), and most seeds must not.
	if took < 5 || took > len(seeds)/2 {
		t.Errorf("the fast path took %d of %d seeds", took, len(seeds))
	}
}

// TestDecodeRecordFastTakesWriterRecords: every valid record the writer
// writes with strings that need no escape is decoded without
// encoding/json, to the record encoding/json reads.
func TestDecodeRecordFastTakesWriterRecords(t *testing.T) {
	texts := []string{"plain", "é-ünï-日本", "<html>&amp;", "a b/c:d", strings.Repeat("x", 255)}
	words := []string{"", ModelRAPL, ModelTDP, "gpu-v2_x"}
	floats := []float64{0, 1, 1.2, 2.999, 1e-7, 0.5, 56, 9999.5, 123456.789, 1e21, 5e-324}
	rng := rand.New(rand.NewPCG(3, 4))
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	pickF := func() float64 { return floats[rng.IntN(len(floats))] }
	for i := range 500 {
		r := testRecord(rng.Uint64(), rng.Uint64N(1<<62), rng.Uint64N(1<<40))
		r.Schema, r.VCPUs = MinSchemaVersion+rng.IntN(SchemaVersion-MinSchemaVersion+1), rng.IntN(300)
		r.Host, r.Domain, r.UUID, r.Instance = pick(texts), pick(texts), pick(texts), pick(texts)
		r.IntervalSeconds, r.WUE, r.CarbonIntensity, r.EmbodiedGramsPerHour = pickF(), pickF(), pickF(), pickF()
		r.PUE = 0
		if rng.IntN(2) == 0 {
			r.PUE = 1 + pickF()
		}
		r.CarbonIntensitySource, r.EmbodiedSource, r.CPUModel, r.CarbonIntensityZone = pick(texts), pick(texts), pick(texts)[:5], pick(texts)[:2]
		if r.Method = []string{"", MethodMeasured, MethodEstimated}[rng.IntN(3)]; r.Method != "" {
			r.Model = pick(words)
		}
		r.IdleModel = pick(words)
		r.EmbodiedUG = rng.Uint64() >> rng.IntN(64)
		r.Timestamp = time.Unix(rng.Int64N(1<<35), rng.Int64N(1e9)).In(time.FixedZone("z", rng.IntN(20*3600)-10*3600))
		if rng.IntN(2) == 0 {
			r.CarbonIntensityTime = time.Unix(rng.Int64N(1<<35), rng.Int64N(1e9)).UTC()
		}
		r.Labels = map[string]string{}
		for range rng.IntN(6) {
			r.Labels[pick(texts)+pick(texts)] = pick(texts)
		}
		r.Zones = map[string]ZoneEnergy{ZonePackage: {UsageUJ: rng.Uint64N(1 << 63), IdleUJ: rng.Uint64N(1 << 63)}}
		for _, z := range []string{ZoneDRAM, ZoneCore, ZonePsys, "gpu"} {
			if rng.IntN(2) == 0 {
				r.Zones[z] = ZoneEnergy{UsageUJ: rng.Uint64N(1 << 63), IdleUJ: rng.Uint64N(1 << 63)}
			}
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("record %d: the test made an invalid record: %v", i, err)
		}
		b := writerJSON(t, r)
		if !sameParse(t, b) {
			t.Fatalf("record %d went to encoding/json:\n%s", i, b)
		}
	}
}

// TestParseRecordFastAllocations: a record the host writes is decoded with
// a handful of allocations (the record, its maps and strings), not
// encoding/json's.
func TestParseRecordFastAllocations(t *testing.T) {
	b := writerJSON(t, testRecord(5, 1000, 100))
	fast := testing.AllocsPerRun(100, func() { _, _ = ParseRecord(b) })
	slow := testing.AllocsPerRun(100, func() { _, _ = parseRecordJSON(b) })
	if fast > 12 || fast > slow/2 {
		t.Errorf("ParseRecord: %v allocations per record (encoding/json: %v), want at most 12", fast, slow)
	}
}

// FuzzDecodeRecordFast: on any input, ParseRecord agrees with
// encoding/json, and the fast path never accepts what encoding/json
// refuses nor reads a record differently.
func FuzzDecodeRecordFast(f *testing.F) {
	for _, b := range decodeSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) { sameParse(t, b) })
}

func BenchmarkParseRecord(b *testing.B) {
	rec := testRecord(5, 1000, 100)
	rec.Method, rec.Model, rec.IdleModel, rec.EmbodiedUG = MethodEstimated, ModelDemo, IdleModelTime, 455520
	in := writerJSON(b, rec)
	for _, c := range []struct {
		name  string
		parse func([]byte) (*Record, error)
	}{{"fast", ParseRecord}, {"encoding-json", parseRecordJSON}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.parse(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
