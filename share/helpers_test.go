package share

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testRecord returns a valid record with the given sequence and energies.
func testRecord(seq, pkgUJ, dramUJ uint64) *Record {
	return &Record{
		Schema:          SchemaVersion,
		Host:            "hv1",
		Domain:          "vm-a",
		UUID:            "6d5b1c8e-3f0a-4c1e-9d8e-0a1b2c3d4e5f",
		Instance:        "i-1",
		Sequence:        seq,
		Timestamp:       time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC).Add(time.Duration(seq) * time.Second),
		IntervalSeconds: 1,
		Zones: map[string]ZoneEnergy{
			ZonePackage: {UsageUJ: pkgUJ / 2, IdleUJ: pkgUJ - pkgUJ/2},
			ZoneDRAM:    {UsageUJ: dramUJ, IdleUJ: 0},
		},
		VCPUs:           2,
		VCPUTimeNS:      seq * 1e9,
		CPUTimeNS:       seq * 11e8,
		PUE:             1.2,
		WUE:             1.8,
		CarbonIntensity: 56,
		Labels:          map[string]string{"team": "ml"},
	}
}

func newTestWriter(t testing.TB) (*Writer, string) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "share")
	w, err := NewWriter(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w, root
}

func readString(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// tempFiles lists leftover temporary files under dir.
func tempFiles(t testing.TB, dir string) []string {
	t.Helper()
	var left []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), tmpPrefix) {
			left = append(left, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return left
}
