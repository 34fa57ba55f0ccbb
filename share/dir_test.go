package share

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const secret = "root:$6$SECRET-HASH-never-in-a-message"

// plantSecret writes a file outside the share that a hostile share links
// to, and returns its path.
func plantSecret(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "shadow")
	if err := os.WriteFile(p, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestReadRefusesLinksFIFOsAndDevices: whatever a stranger planted in a
// share, a read stays beneath it, follows no symbolic link (absolute,
// relative, at the file or at a directory on the way), never blocks on a
// FIFO, never opens a device, and never quotes what it found.
func TestReadRefusesLinksFIFOsAndDevices(t *testing.T) {
	energy := filepath.Join(PackageZoneDir, EnergyFile)
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, dir string)
		read  func(dir string) error
		want  error
	}{
		{"record: absolute link out of the share", func(t *testing.T, dir string) {
			mustOK(t, os.Symlink(plantSecret(t), filepath.Join(dir, RecordFile)))
		}, readRecord, ErrUnsafe},
		{"record: relative link inside the share", func(t *testing.T, dir string) {
			writeShareFile(t, filepath.Join(dir, "other.json"), "{}")
			mustOK(t, os.Symlink("other.json", filepath.Join(dir, RecordFile)))
		}, readRecord, ErrUnsafe},
		{"energy_uj: absolute link out of the share", func(t *testing.T, dir string) {
			mustOK(t, os.MkdirAll(filepath.Join(dir, PackageZoneDir), 0o755))
			mustOK(t, os.Symlink(plantSecret(t), filepath.Join(dir, energy)))
		}, readTree, ErrUnsafe},
		{"zone directory: link out of the share", func(t *testing.T, dir string) {
			out := t.TempDir()
			writeShareFile(t, filepath.Join(out, EnergyFile), "42\n")
			mustOK(t, os.Symlink(out, filepath.Join(dir, PackageZoneDir)))
		}, readTree, ErrUnsafe},
		{"zone directory: a file", func(t *testing.T, dir string) {
			writeShareFile(t, filepath.Join(dir, PackageZoneDir), "42\n")
		}, readTree, ErrUnsafe},
		{"record: a FIFO", func(t *testing.T, dir string) {
			mustOK(t, syscall.Mkfifo(filepath.Join(dir, RecordFile), 0o644))
		}, readRecord, ErrGarbled},
		{"energy_uj: a FIFO", func(t *testing.T, dir string) {
			mustOK(t, os.MkdirAll(filepath.Join(dir, PackageZoneDir), 0o755))
			mustOK(t, syscall.Mkfifo(filepath.Join(dir, energy), 0o644))
		}, readTree, ErrGarbled},
		{"record: a directory", func(t *testing.T, dir string) {
			mustOK(t, os.Mkdir(filepath.Join(dir, RecordFile), 0o755))
		}, readRecord, ErrGarbled},
		{"record: a character device", func(t *testing.T, dir string) {
			// /dev/null's numbers (1, 3); needs CAP_MKNOD.
			if err := syscall.Mknod(filepath.Join(dir, RecordFile), syscall.S_IFCHR|0o644, 1<<8|3); err != nil {
				t.Skipf("mknod: %v (not root?)", err)
			}
		}, readRecord, ErrGarbled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.plant(t, dir)
			done := make(chan error, 1)
			go func() { done <- tc.read(dir) }()
			var err error
			select {
			case err = <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("the read blocked")
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("read = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), dir) {
				t.Errorf("error %q does not name the share", err)
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("error %q quotes the file", err)
			}
		})
	}
}

func readRecord(dir string) error { _, err := ReadRecord(dir); return err }
func readTree(dir string) error   { _, err := ReadTree(dir); return err }

// TestErrorsNeverQuoteContent: a share file that does not parse is
// reported by its name, its length and the reason, never by its bytes.
func TestErrorsNeverQuoteContent(t *testing.T) {
	for _, tc := range []struct {
		name, file, content string
		read                func(string) error
	}{
		{"energy_uj", filepath.Join(PackageZoneDir, EnergyFile), secret + "\n", readTree},
		{"max range", filepath.Join(PackageZoneDir, MaxRangeFile), secret + "\n", readTree},
		{"record not JSON", RecordFile, "{" + secret, readRecord},
		{"record bad character", RecordFile, `{"schema":1,"host":"h"` + secret + `}`, readRecord},
		{"record schema a string", RecordFile, `{"schema":"` + secret + `"}`, readRecord},
		{"record zone named by the share, wrong type", RecordFile,
			`{"schema":1,"zones":{"` + "SECRET" + `":{"usage_uj":"x"}}}`, readRecord},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeShareFile(t, filepath.Join(dir, PackageZoneDir, EnergyFile), "1\n")
			writeShareFile(t, filepath.Join(dir, tc.file), tc.content)
			err := tc.read(dir)
			if !errors.Is(err, ErrGarbled) && !errors.Is(err, ErrSchema) {
				t.Fatalf("read = %v, want garbled or schema", err)
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Fatalf("error %q quotes the file's content", err)
			}
			if !strings.Contains(err.Error(), tc.file) {
				t.Fatalf("error %q does not name %s", err, tc.file)
			}
		})
	}
}

// TestSanitize: a record's zones, strings and labels are bounded as the
// host bounds them; what virtwatt-host writes passes untouched.
func TestSanitize(t *testing.T) {
	honest := testRecord(3, 1000, 10)
	if p := honest.Sanitize(); len(p) != 0 {
		t.Fatalf("a host's record was changed: %v", p)
	}

	r := testRecord(3, 1000, 10)
	for i := range 1000 {
		r.Zones[fmt.Sprintf("zone%04d", i)] = ZoneEnergy{UsageUJ: 1}
	}
	r.Zones[ZonePsys] = ZoneEnergy{UsageUJ: 5}
	r.Host = strings.Repeat("h", 10_000)
	r.Domain = strings.Repeat("é", 200) // 400 bytes, cut at a rune
	r.CarbonIntensitySource = strings.Repeat("s", MaxFieldBytes+1)
	r.Labels = map[string]string{"__reserved": "x", "bad-name": "x", "9lead": "x", strings.Repeat("n", 300): "x"}
	for i := range MaxLabels + 5 {
		r.Labels[fmt.Sprintf("l%02d", i)] = strings.Repeat("v", 1000)
	}
	problems := r.Sanitize()
	if len(r.Zones) != 3 {
		t.Errorf("zones kept: %d, want package, dram, psys", len(r.Zones))
	}
	for z := range r.Zones {
		if !KnownZone(z) {
			t.Errorf("unknown zone %q kept", z)
		}
	}
	if len(r.Host) != MaxFieldBytes || len(r.CarbonIntensitySource) != MaxFieldBytes {
		t.Errorf("host %d bytes, source %d bytes, want %d", len(r.Host), len(r.CarbonIntensitySource), MaxFieldBytes)
	}
	if len(r.Domain) > MaxFieldBytes || !strings.HasPrefix(strings.Repeat("é", 200), r.Domain) || len(r.Domain)%2 != 0 {
		t.Errorf("domain cut to %d bytes, not at a rune boundary", len(r.Domain))
	}
	if len(r.Labels) != MaxLabels {
		t.Errorf("%d labels kept, want %d", len(r.Labels), MaxLabels)
	}
	for n, v := range r.Labels {
		if ValidLabelName(n) != nil || len(v) > MaxLabelValueBytes {
			t.Errorf("label %q (%d bytes) kept", n, len(v))
		}
	}
	if len(problems) < 4 {
		t.Errorf("problems %q: want one per kind (zones, host, domain, source, labels)", problems)
	}
	for _, p := range problems {
		if strings.Contains(p, "zone0") || strings.Contains(p, "hhhh") || strings.Contains(p, "vvvv") {
			t.Errorf("problem %q quotes the record", p)
		}
	}
}

// TestCheckInterval: one range and one message for both agents.
func TestCheckInterval(t *testing.T) {
	for _, tc := range []struct {
		d  time.Duration
		ok bool
	}{
		{time.Nanosecond, false}, {9 * time.Millisecond, false}, {MinInterval, true}, {time.Second, true},
		{MaxInterval, true}, {MaxInterval + time.Nanosecond, false}, {100 * time.Hour, false}, {-time.Second, false},
	} {
		err := CheckInterval(tc.d)
		if (err == nil) != tc.ok {
			t.Errorf("CheckInterval(%v) = %v, want ok %v", tc.d, err, tc.ok)
		}
		if err != nil && err.Error() != fmt.Sprintf("%v is out of range (10ms to 1h)", tc.d) {
			t.Errorf("CheckInterval(%v) message %q", tc.d, err)
		}
	}
}

func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func writeShareFile(t *testing.T, path, content string) {
	t.Helper()
	mustOK(t, os.MkdirAll(filepath.Dir(path), 0o755))
	mustOK(t, os.WriteFile(path, []byte(content), 0o644))
}
