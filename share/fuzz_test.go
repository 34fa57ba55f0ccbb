package share

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// FuzzParseRecord feeds arbitrary bytes to ParseRecord: it must never
// panic, must fail only with one of the sentinel errors, and any record it
// accepts must re-marshal and re-parse to the same record. The seed
// corpus is under testdata/fuzz/FuzzParseRecord.
func FuzzParseRecord(f *testing.F) {
	valid, err := json.Marshal(testRecord(3, 1000, 10))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add([]byte(`{"schema":1}`))
	f.Add([]byte(`{"schema":1,"uuid":"u","instance":"i","timestamp":"2026-01-01T00:00:00+01:00","zones":{"package":{"usage_uj":1}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRecord(b)
		if err != nil {
			if r != nil {
				t.Fatalf("record returned with error %v", err)
			}
			if !errors.Is(err, ErrEmpty) && !errors.Is(err, ErrGarbled) && !errors.Is(err, ErrSchema) {
				t.Fatalf("error %v is none of the sentinels", err)
			}
			return
		}
		m1, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("accepted record does not marshal: %v", err)
		}
		r2, err := ParseRecord(m1)
		if err != nil {
			t.Fatalf("re-marshaled record %s refused: %v", m1, err)
		}
		m2, err := json.Marshal(r2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(m1, m2) {
			t.Fatalf("round trip differs:\n%s\n%s", m1, m2)
		}
		if !r.Timestamp.Equal(r2.Timestamp) || r.Sequence != r2.Sequence || len(r.Zones) != len(r2.Zones) {
			t.Fatalf("round trip changed the record: %+v vs %+v", r, r2)
		}
	})
}

// TestFuzzSeedCorpus checks that the committed seeds say what their names
// say, so the corpus keeps covering both acceptance and each refusal.
func TestFuzzSeedCorpus(t *testing.T) {
	for name, want := range map[string]error{
		"valid":                nil,
		"unknown-fields":       nil,
		"garbled":              ErrGarbled,
		"truncated":            ErrGarbled,
		"newer-schema":         ErrSchema,
		"timestamp-offset-24h": ErrGarbled,
	} {
		raw, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzParseRecord", name))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
		if len(lines) != 2 || lines[0] != "go test fuzz v1" ||
			!strings.HasPrefix(lines[1], "[]byte(") || !strings.HasSuffix(lines[1], ")") {
			t.Fatalf("%s: not a one-value 'go test fuzz v1' file", name)
		}
		b, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		_, err = ParseRecord([]byte(b))
		if want == nil && err != nil || want != nil && !errors.Is(err, want) {
			t.Errorf("seed %s: ParseRecord = %v, want %v", name, err, want)
		}
	}
}
