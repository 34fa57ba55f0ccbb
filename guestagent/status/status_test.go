package status

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/guestagent"
	"github.com/virtwatt/virtwatt/share"
)

const rootMount = "22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// host is a fake hypervisor writing one VM's share with share.Writer.
type host struct {
	t   *testing.T
	w   *share.Writer
	rec share.Record
}

func newHost(t *testing.T, root string, ts time.Time) *host {
	w, err := share.NewWriter(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	if err := w.EnsureDir("vm1"); err != nil {
		t.Fatal(err)
	}
	h := &host{t: t, w: w, rec: share.Record{
		Schema: share.SchemaVersion, Host: "hv1", Domain: "vm1", UUID: "4d3c2b1a-0000-0000-0000-000000000001",
		Instance: "i1", Sequence: 7, Timestamp: ts, IntervalSeconds: 1, VCPUs: 2,
		Zones: map[string]share.ZoneEnergy{
			share.ZonePackage: {UsageUJ: 50_000_000, IdleUJ: 10_000_000},
			share.ZoneDRAM:    {UsageUJ: 5_000_000},
		},
		CarbonIntensity: 56, CarbonIntensitySource: "grid operator FR",
	}}
	h.write()
	return h
}

func (h *host) write() {
	r := h.rec
	if err := h.w.Write("vm1", &r, true); err != nil {
		h.t.Fatal(err)
	}
}

// tick is one host interval: +12 J package, +3 J dram over 1 s.
func (h *host) tick() {
	h.rec.Sequence++
	h.rec.Timestamp = h.rec.Timestamp.Add(time.Second)
	p := h.rec.Zones[share.ZonePackage]
	p.UsageUJ += 12_000_000
	d := h.rec.Zones[share.ZoneDRAM]
	d.UsageUJ += 3_000_000
	h.rec.Zones = map[string]share.ZoneEnergy{share.ZonePackage: p, share.ZoneDRAM: d}
	h.write()
}

func TestRun(t *testing.T) {
	type setup struct {
		sys        map[string]string // sysfs files
		mountinfo  string            // SHARE stands for the share dir
		noShare    bool              // the host writes nothing
		recordAge  time.Duration
		hostWrites bool // the host ticks between the two reads
		flags      []string
	}
	nineP := map[string]string{"bus/virtio/drivers/9pnet_virtio/virtio1/mount_tag": "virtwatt\x00"}
	mountedRO := rootMount + "40 22 0:40 / SHARE ro,nosuid,nodev,noexec,relatime - 9p virtwatt rw,trans=virtio\n"
	for _, tc := range []struct {
		name    string
		s       setup
		healthy bool
		want    []string // lines of the report
	}{
		{"healthy", setup{sys: nineP, mountinfo: mountedRO, hostWrites: true}, true, []string{
			"ok   share   virtio file system tagged \"virtwatt\": 9p",
			"ok   mount   SHARE: 9p virtwatt, read-only",
			"ok   fresh   record mode, host hv1, domain vm1",
			"ok   power   15.00 W (dram 3.00 W, package 12.00 W)",
			"ok   carbon  56.0 gCO2e/kWh from host:grid operator FR",
			"healthy",
		}},
		{"stale: the host stopped an hour ago", setup{sys: nineP, mountinfo: mountedRO, recordAge: time.Hour}, false, []string{
			"ok   mount",
			"FAIL fresh   not updated since",
			"fix: virtwatt-host is not updating this share",
			"FAIL power   unknown",
			"NOT healthy",
		}},
		{"not mounted: the exact command", setup{sys: nineP, mountinfo: rootMount, noShare: true}, false, []string{
			"ok   share",
			"FAIL mount   SHARE is not a mount point",
			"run: mkdir -p SHARE && mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=262144 virtwatt SHARE",
			"FAIL fresh",
		}},
		{"mounted read-write", setup{sys: nineP, mountinfo: strings.Replace(mountedRO, " ro,", " rw,", 1), hostWrites: true}, false, []string{
			"FAIL mount   SHARE: 9p virtwatt is mounted read-write",
			"fix: mount -o remount,ro SHARE",
			"ok   power",
		}},
		{"nothing attached", setup{sys: map[string]string{"bus/virtio/drivers/x": ""}, mountinfo: rootMount, noShare: true}, false, []string{
			"FAIL share   no virtio file system tagged \"virtwatt\"",
			"fix: on the hypervisor: virtwatt-host attach DOMAIN",
		}},
		{"world average: a hint, not a failure", setup{sys: nineP, mountinfo: mountedRO, hostWrites: true}, true, []string{
			"ok   carbon  475.0 gCO2e/kWh from world-average",
			"hint: the world average: set country",
			"healthy",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "shares")
			dir := filepath.Join(root, "vm1")
			now := time.Now()
			var h *host
			if !tc.s.noShare {
				h = newHost(t, root, now.Add(-tc.s.recordAge))
			}
			sys := t.TempDir()
			for p, v := range tc.s.sys {
				write(t, filepath.Join(sys, p), v)
			}
			proc := t.TempDir()
			write(t, filepath.Join(proc, "self/mountinfo"), strings.ReplaceAll(tc.s.mountinfo, "SHARE", dir))

			cfg, _, err := guestagent.ParseArgs("test", append([]string{"--share-dir", dir}, tc.s.flags...), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.name == "world average: a hint, not a failure" {
				h.rec.CarbonIntensity, h.rec.CarbonIntensitySource = 0, ""
				h.write()
			}
			slept := time.Duration(0)
			rep := Run(context.Background(), Options{ShareDir: dir, SysRoot: sys, ProcRoot: proc, Sampler: guestagent.NewShareSampler(cfg, nil),
				Sleep: func(_ context.Context, d time.Duration) error {
					slept = d
					if tc.s.hostWrites {
						h.tick()
					}
					return nil
				}})
			var out bytes.Buffer
			if err := rep.Write(&out); err != nil {
				t.Fatal(err)
			}
			text := out.String()
			if rep.Healthy() != tc.healthy {
				t.Errorf("Healthy = %v, want %v:\n%s", rep.Healthy(), tc.healthy, text)
			}
			for _, w := range tc.want {
				if !strings.Contains(text, strings.ReplaceAll(w, "SHARE", dir)) {
					t.Errorf("report lacks %q:\n%s", strings.ReplaceAll(w, "SHARE", dir), text)
				}
			}
			if !tc.s.noShare && (slept < time.Second || slept > MaxWait) {
				t.Errorf("waited %v between the reads, want about one share interval (1 s)", slept)
			}
			if testing.Verbose() {
				t.Logf("report:\n%s", text)
			}
		})
	}
}
