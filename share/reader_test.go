package share

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// validJSON is a record as the writer produces it.
func validJSON(t testing.TB) string {
	t.Helper()
	b, err := json.Marshal(testRecord(5, 1000, 100))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// withField returns the valid record with one field replaced (value is
// raw JSON) or, when value is "", removed.
func withField(t testing.TB, field, value string) string {
	t.Helper()
	return withFields(t, map[string]string{field: value})
}

// withFields is the valid record with each field set to its raw JSON
// value, or removed where the value is "".
func withFields(t testing.TB, fields map[string]string) string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(validJSON(t)), &m); err != nil {
		t.Fatal(err)
	}
	for field, value := range fields {
		if value == "" {
			delete(m, field)
		} else {
			m[field] = json.RawMessage(value)
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseRecord(t *testing.T) {
	valid := validJSON(t)
	for _, tc := range []struct {
		name    string
		in      string
		want    error  // nil: accepted
		wantMsg string // part of the message
	}{
		{name: "valid", in: valid},
		{name: "valid with whitespace", in: "\n  " + valid + "\n\n"},
		{name: "unknown fields allowed", in: withField(t, "gpu_zones", `{"gpu0":{"usage_uj":1}}`)},
		{name: "domain only", in: withField(t, "uuid", "")},
		{name: "uuid only", in: withField(t, "domain", "")},
		{name: "pue unset", in: withField(t, "pue", "")},
		{name: "empty", in: "", want: ErrEmpty},
		{name: "blank", in: " \n\t", want: ErrEmpty},
		{name: "truncated", in: valid[:len(valid)/2], want: ErrGarbled},
		{name: "garbled", in: "\x00\x01{garbage", want: ErrGarbled},
		{name: "not an object", in: "[1,2]", want: ErrGarbled},
		{name: "null", in: "null", want: ErrGarbled},
		{name: "trailing data", in: valid + valid, want: ErrGarbled},
		{name: "schema 0 (older)", in: withField(t, "schema", "0"), want: ErrSchema, wantMsg: "upgrade virtwatt-host"},
		{name: "newer schema", in: withField(t, "schema", "3"), want: ErrSchema, wantMsg: "upgrade virtwatt-guest"},
		{name: "newer schema, other shape", in: `{"schema":3,"zones":[1,2,3]}`, want: ErrSchema, wantMsg: "schema 3 is newer"},
		{name: "no schema", in: withField(t, "schema", ""), want: ErrSchema},
		{name: "schema not an int", in: withField(t, "schema", `"1"`), want: ErrSchema},
		{name: "no uuid nor domain", in: `{"schema":1,"instance":"i","timestamp":"2026-01-01T00:00:00Z","zones":{"package":{}}}`, want: ErrGarbled, wantMsg: "uuid"},
		{name: "no instance", in: withField(t, "instance", ""), want: ErrGarbled, wantMsg: "instance"},
		{name: "empty instance", in: withField(t, "instance", `""`), want: ErrGarbled, wantMsg: "instance"},
		{name: "no timestamp", in: withField(t, "timestamp", ""), want: ErrGarbled, wantMsg: "timestamp"},
		{name: "timestamp offset 24h", in: withField(t, "timestamp", `"2026-01-01T00:00:00+24:00"`), want: ErrGarbled, wantMsg: "timestamp"},
		{name: "bad timestamp", in: withField(t, "timestamp", `"yesterday"`), want: ErrGarbled},
		{name: "no zones", in: withField(t, "zones", ""), want: ErrGarbled, wantMsg: "package"},
		{name: "no package zone", in: withField(t, "zones", `{"dram":{"usage_uj":1}}`), want: ErrGarbled, wantMsg: "package"},
		{name: "negative energy", in: withField(t, "zones", `{"package":{"usage_uj":-1}}`), want: ErrGarbled},
		{name: "overflowing zone", in: withField(t, "zones", `{"package":{"usage_uj":18446744073709551615,"idle_uj":1}}`), want: ErrGarbled, wantMsg: "overflows"},
		{name: "negative pue", in: withField(t, "pue", "-1.2"), want: ErrGarbled, wantMsg: "pue"},
		{name: "pue below 1", in: withField(t, "pue", "0.5"), want: ErrGarbled, wantMsg: "pue"},
		{name: "huge number", in: withField(t, "pue", "1e999"), want: ErrGarbled},
		{name: "NaN", in: strings.Replace(valid, `"pue":1.2`, `"pue":NaN`, 1), want: ErrGarbled},
		{name: "negative wue", in: withField(t, "wue_liters_per_kwh", "-0.1"), want: ErrGarbled},
		{name: "negative intensity", in: withField(t, "carbon_intensity_g_per_kwh", "-5"), want: ErrGarbled},
		{name: "negative interval", in: withField(t, "interval_seconds", "-1"), want: ErrGarbled},
		{name: "negative vcpus", in: withField(t, "vcpus", "-2"), want: ErrGarbled},
		{name: "wrong type", in: withField(t, "sequence", `"five"`), want: ErrGarbled},
		{name: "schema 1 record", in: withField(t, "schema", "1")},
		{name: "v2 provenance", in: withFields(t, map[string]string{"method": `"estimated"`, "model": `"tdp"`, "idle_model": `"fitted"`, "cpu_model": `"Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz"`, "embodied_ug": "123456", "carbon_intensity_zone": `"DE"`, "carbon_intensity_time": `"2026-11-26T11:00:00Z"`})},
		{name: "newer host's model", in: withFields(t, map[string]string{"method": `"estimated"`, "model": `"gpu-v2_x"`})},
		{name: "unknown method", in: withField(t, "method", `"guessed"`), want: ErrGarbled, wantMsg: "method"},
		{name: "model without method", in: withField(t, "model", `"tdp"`), want: ErrGarbled, wantMsg: "without a method"},
		{name: "model not a word", in: withFields(t, map[string]string{"method": `"measured"`, "model": `"RAPL\n{x}"`}), want: ErrGarbled, wantMsg: "model"},
		{name: "idle model too long", in: withField(t, "idle_model", `"`+strings.Repeat("a", 33)+`"`), want: ErrGarbled, wantMsg: "idle_model"},
		{name: "cpu model with control bytes", in: withField(t, "cpu_model", `"Xeon\u001b[2J"`), want: ErrGarbled, wantMsg: "cpu_model"},
		{name: "cpu model too long", in: withField(t, "cpu_model", `"`+strings.Repeat("x", 257)+`"`), want: ErrGarbled, wantMsg: "cpu_model"},
		{name: "negative embodied", in: withField(t, "embodied_ug", "-1"), want: ErrGarbled},
		{name: "bad intensity time", in: withField(t, "carbon_intensity_time", `"2026-01-01T00:00:00+24:00"`), want: ErrGarbled, wantMsg: "carbon_intensity_time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseRecord([]byte(tc.in))
			if tc.want == nil {
				if err != nil {
					t.Fatalf("ParseRecord = %v, want success", err)
				}
				if r.Sequence != 5 || r.Zones[ZonePackage].TotalUJ() != 1000 {
					t.Errorf("record = %+v", r)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("ParseRecord = %v, %v; want %v", r, err, tc.want)
			}
			if r != nil {
				t.Errorf("record returned with an error: %+v", r)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not say %q", err, tc.wantMsg)
			}
		})
	}
}

func TestReadRecordNamesFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, RecordFile)
	if _, err := ReadRecord(dir); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Errorf("missing record: %v", err)
	}
	for _, tc := range []struct {
		content string
		want    error
	}{
		{"", ErrEmpty},
		{"{", ErrGarbled},
		{`{"schema":99}`, ErrSchema},
	} {
		if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := ReadRecord(dir)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("content %q: ReadRecord = %v, want %v naming %s", tc.content, err, tc.want, path)
		}
	}
}

// readBounded reads path as Dir.ReadFile reads a file of a share.
func readBounded(path string, max int64) ([]byte, error) {
	d, err := OpenDir(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.ReadFile(filepath.Base(path), max)
}

func TestReadFileBounded(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, size int) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.Repeat("x", size)), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	huge := write("huge", 10<<20)
	if _, err := readBounded(huge, MaxFileSize); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), huge) {
		t.Errorf("10 MB file: %v, want ErrTooLarge naming it", err)
	}
	if b, err := readBounded(write("exact", 100), 100); err != nil || len(b) != 100 {
		t.Errorf("file of exactly max bytes: %d bytes, %v", len(b), err)
	}
	if _, err := readBounded(write("over", 101), 100); !errors.Is(err, ErrTooLarge) {
		t.Errorf("file of max+1 bytes: %v, want ErrTooLarge", err)
	}
	if _, err := readBounded(write("empty", 0), 100); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty file: %v, want ErrEmpty", err)
	}
	if _, err := readBounded(dir, 100); !errors.Is(err, ErrGarbled) {
		t.Errorf("directory: %v, want ErrGarbled", err)
	}
	// A FIFO with no writer would block a plain open or read forever.
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readBounded(fifo, 100); !errors.Is(err, ErrGarbled) {
		t.Errorf("fifo: %v, want ErrGarbled", err)
	}
	// A character device reports size 0 and never ends.
	if _, err := readBounded("/dev/zero", 100); !errors.Is(err, ErrGarbled) {
		t.Errorf("/dev/zero: %v, want ErrGarbled", err)
	}
}

func TestReadTree(t *testing.T) {
	type files map[string]string
	pkg := func(energy, max string) files {
		return files{
			filepath.Join(PackageZoneDir, EnergyFile):   energy,
			filepath.Join(PackageZoneDir, MaxRangeFile): max,
		}
	}
	for _, tc := range []struct {
		name     string
		files    files
		want     Tree
		wantErr  error
		wantPath string
	}{
		{name: "package only", files: pkg("42\n", "1000\n"), want: Tree{PackageUJ: 42, PackageMaxUJ: 1000}},
		{name: "no trailing newline", files: pkg("42", "1000"), want: Tree{PackageUJ: 42, PackageMaxUJ: 1000}},
		{name: "with dram", files: files{
			filepath.Join(PackageZoneDir, EnergyFile):   "1\n",
			filepath.Join(PackageZoneDir, MaxRangeFile): "10\n",
			filepath.Join(DRAMZoneDir, EnergyFile):      "2\n",
			filepath.Join(DRAMZoneDir, MaxRangeFile):    "20\n",
		}, want: Tree{PackageUJ: 1, PackageMaxUJ: 10, HasDRAM: true, DRAMUJ: 2, DRAMMaxUJ: 20}},
		{name: "dram dir without counter", files: files{
			filepath.Join(PackageZoneDir, EnergyFile):   "1\n",
			filepath.Join(PackageZoneDir, MaxRangeFile): "10\n",
			filepath.Join(DRAMZoneDir, NameFile):        "dram\n",
		}, want: Tree{PackageUJ: 1, PackageMaxUJ: 10}},
		{name: "missing package", files: files{}, wantErr: fs.ErrNotExist, wantPath: filepath.Join(PackageZoneDir, EnergyFile)},
		{name: "empty energy", files: pkg("", "10\n"), wantErr: ErrEmpty, wantPath: filepath.Join(PackageZoneDir, EnergyFile)},
		{name: "garbled energy", files: pkg("12a\n", "10\n"), wantErr: ErrGarbled, wantPath: filepath.Join(PackageZoneDir, EnergyFile)},
		{name: "negative energy", files: pkg("-1\n", "10\n"), wantErr: ErrGarbled, wantPath: EnergyFile},
		{name: "garbled max", files: pkg("1\n", "ten\n"), wantErr: ErrGarbled, wantPath: MaxRangeFile},
		{name: "zero max", files: pkg("0\n", "0\n"), wantErr: ErrGarbled, wantPath: MaxRangeFile},
		{name: "counter above max", files: pkg("11\n", "10\n"), wantErr: ErrGarbled, wantPath: EnergyFile},
		{name: "overflow", files: pkg("18446744073709551616\n", "10\n"), wantErr: ErrGarbled, wantPath: EnergyFile},
		{name: "garbled dram", files: files{
			filepath.Join(PackageZoneDir, EnergyFile):   "1\n",
			filepath.Join(PackageZoneDir, MaxRangeFile): "10\n",
			filepath.Join(DRAMZoneDir, EnergyFile):      "x\n",
			filepath.Join(DRAMZoneDir, MaxRangeFile):    "20\n",
		}, wantErr: ErrGarbled, wantPath: DRAMZoneDir},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for p, c := range tc.files {
				full := filepath.Join(dir, p)
				if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := ReadTree(dir)
			if tc.wantErr == nil {
				if err != nil || got != tc.want {
					t.Errorf("ReadTree = %+v, %v; want %+v", got, err, tc.want)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.wantPath) {
				t.Errorf("ReadTree error = %v, want %v naming %s", err, tc.wantErr, tc.wantPath)
			}
		})
	}
}

// TestProvenanceAndDowngrade: a schema-1 record reads as measured by RAPL
// with idle by time; a measured schema-2 record downgrades to a schema-1
// record an old guest reads, with nothing of schema 2 left; an estimated
// one refuses, since as schema 1 it would read as measured.
func TestProvenanceAndDowngrade(t *testing.T) {
	v1 := testRecord(3, 1000, 10)
	v1.Schema = 1
	if m, mo, im := v1.Provenance(); m != MethodMeasured || mo != ModelRAPL || im != IdleModelTime {
		t.Errorf("schema-1 provenance = %s %s %s, want measured rapl time", m, mo, im)
	}

	meas := testRecord(3, 1000, 10)
	meas.Method, meas.Model, meas.IdleModel, meas.CPUModel = MethodMeasured, ModelRAPL, IdleModelFitted, "EPYC"
	meas.EmbodiedUG, meas.CarbonIntensityZone, meas.CarbonIntensityTime = 77, "FR", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if !meas.Downgrade() {
		t.Fatal("a measured record refused to downgrade")
	}
	b, _, ok := appendRecordJSON(nil, meas, nil)
	if !ok {
		t.Fatal("downgraded record not encodable")
	}
	for _, k := range []string{"method", "model", "idle_model", "cpu_model", "embodied_ug", "carbon_intensity_zone", "carbon_intensity_time"} {
		if strings.Contains(string(b), `"`+k+`"`) {
			t.Errorf("downgraded record still has %s: %s", k, b)
		}
	}
	if !strings.HasPrefix(string(b), `{"schema":1,`) {
		t.Errorf("downgraded record is not schema 1: %s", b)
	}
	r, err := ParseRecord(b)
	if err != nil || r.Zones[ZonePackage] != meas.Zones[ZonePackage] {
		t.Errorf("downgraded record reads back as %+v, %v", r, err)
	}

	est := testRecord(3, 1000, 10)
	est.Method, est.Model = MethodEstimated, ModelTDP
	if est.Downgrade() || est.Schema != SchemaVersion || est.Method != MethodEstimated {
		t.Errorf("an estimated record downgraded: %+v", est)
	}
}
