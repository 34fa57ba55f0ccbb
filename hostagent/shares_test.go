package hostagent

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/virtwatt/virtwatt/hostagent/domain"
	"github.com/virtwatt/virtwatt/hostagent/meter"
	"github.com/virtwatt/virtwatt/hostagent/state"
	"github.com/virtwatt/virtwatt/internal/logcapture"
	"github.com/virtwatt/virtwatt/share"
)

// failingMeter fails every read while fail is set.
type failingMeter struct {
	meter.Meter
	fail *bool
}

func (m failingMeter) Read() ([]meter.Reading, error) {
	if *m.fail {
		return nil, errors.New("powercap: reading energy_uj: input/output error")
	}
	return m.Meter.Read()
}

// TestPersistentFailuresDoNotFlood: a condition that lasts 120 ticks, for
// 100 domains at once where it concerns shares, logs a start line (naming
// how many domains), at most two summaries and a clear line, not one line
// per domain per tick.
func TestPersistentFailuresDoNotFlood(t *testing.T) {
	const failTicks = 120
	for _, tc := range []struct {
		name, stage string
		ndoms       int
		tmpfs       bool // the share root is a small tmpfs (root only)
		set         func(t *testing.T, cfg Config, h *fakeHost, meterFails *bool, on bool)
	}{
		{name: "unwritable VM dirs", stage: "share", ndoms: 100, set: func(t *testing.T, cfg Config, h *fakeHost, _ *bool, on bool) {
			// A file where each VM directory belongs: every write is refused.
			for i := range len(h.doms) {
				p := filepath.Join(cfg.ShareRoot, nameFor(i))
				var err error
				if on {
					err = os.WriteFile(p, []byte("planted"), 0o644)
				} else {
					err = os.Remove(p)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
		}},
		{name: "full disk", stage: "share", ndoms: 100, tmpfs: true, set: func(t *testing.T, cfg Config, _ *fakeHost, _ *bool, on bool) {
			fill := filepath.Join(cfg.ShareRoot, ".fill")
			if !on {
				if err := os.Remove(fill); err != nil {
					t.Fatal(err)
				}
				return
			}
			f, err := os.Create(fill)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			buf := make([]byte, 64<<10)
			for {
				if _, err := f.Write(buf); err != nil {
					if !errors.Is(err, syscall.ENOSPC) {
						t.Fatal(err)
					}
					return
				}
			}
		}},
		{name: "libvirt unreachable", stage: "domains", ndoms: 4, set: func(t *testing.T, _ Config, h *fakeHost, _ *bool, on bool) { h.failDom = on }},
		{name: "meter failing", stage: "meter", ndoms: 4, set: func(t *testing.T, _ Config, _ *fakeHost, m *bool, on bool) { *m = on }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			h := newFakeHost(3, tc.ndoms)
			if tc.tmpfs {
				mountTmpfs(t, cfg.ShareRoot, "size=16m")
			}
			w, err := share.NewWriter(cfg.ShareRoot)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { w.Close() })
			logs, logger := logcapture.New()
			meterFails := false
			src := h.sources()
			src.Meter = failingMeter{Meter: h, fail: &meterFails}
			a, err := New(cfg, src, w, state.New(), nil, logger)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			tc.set(t, cfg, h, &meterFails, true)
			for i := range failTicks + 10 {
				if i == failTicks {
					tc.set(t, cfg, h, &meterFails, false)
				}
				h.advance(time.Second)
				a.Tick(ctx)
			}

			lines := logs.With("stage", tc.stage)
			var warns int
			for _, r := range logs.Records() {
				if r.Level >= slog.LevelWarn {
					warns++
				}
			}
			if len(lines) < 2 || len(lines) > 4 || warns > 3 {
				for i, r := range logs.Records() {
					if r.Level >= slog.LevelWarn && i < 10 {
						t.Log(r.Level, r.Message)
					}
				}
				t.Fatalf("%d lines for stage %s (%d warnings) over %d failing ticks; want start + ≤2 summaries + clear",
					len(lines), tc.stage, warns, failTicks)
			}
			if first := lines[0]; first.Message != tc.stage+" failing" {
				t.Errorf("first line %q", first.Message)
			}
			if last := lines[len(lines)-1]; last.Message != tc.stage+" recovered" {
				t.Errorf("last line %q", last.Message)
			}
			if tc.stage == "share" {
				if v, _ := logcapture.Attr(lines[0], "domains"); v.Int64() != int64(tc.ndoms) {
					t.Errorf("start line names %v domains, want %d", v, tc.ndoms)
				}
			}
			if got := testCounter(t, a, tc.stage); got < failTicks {
				t.Errorf("errors_total{stage=%q} = %v, want every failure counted (≥ %d)", tc.stage, got, failTicks)
			}
		})
	}
}

// TestPlantedRecordLinkIsNotRead: at start the agent compares an existing
// record with its state; a record planted as a symlink to a file outside
// the share, claiming counters far ahead, is not read: the domain keeps
// its instance and counters.
func TestPlantedRecordLinkIsNotRead(t *testing.T) {
	cfg := testConfig(t)
	h := newFakeHost(21, 1)
	ctx := context.Background()
	a := newTestAgent(t, cfg, h, state.New())
	for range 3 {
		h.advance(time.Second)
		a.Tick(ctx)
	}
	saved, err := state.Load(cfg.StateFile)
	if err != nil {
		t.Fatal(err)
	}
	uuid := h.doms[0].UUID
	instance := saved.VMs[uuid].Instance // b changes saved's VMs in place
	recPath := filepath.Join(cfg.ShareRoot, h.doms[0].Name, share.RecordFile)
	forged, err := share.ReadRecord(filepath.Dir(recPath))
	if err != nil {
		t.Fatal(err)
	}
	forged.Sequence = 1 << 60
	forged.Zones[share.ZonePackage] = share.ZoneEnergy{UsageUJ: 1 << 60, IdleUJ: 1 << 60}
	outside := filepath.Join(t.TempDir(), "forged.json")
	fw, err := share.NewWriter(filepath.Dir(outside))
	if err != nil {
		t.Fatal(err)
	}
	defer fw.Close()
	if err := fw.Write("x", forged, false); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(filepath.Dir(outside), "x", share.RecordFile), outside); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(recPath); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, recPath); err != nil {
		t.Fatal(err)
	}

	b := newTestAgent(t, cfg, h, saved)
	h.advance(time.Second)
	b.Tick(ctx)
	if got := b.st.VMs[uuid].Instance; got != instance {
		t.Fatalf("instance changed from %s to %s: the planted record was read", instance, got)
	}
	if got := b.st.VMs[uuid].Zones[share.ZonePackage].TotalUJ(); got >= 1<<60 {
		t.Fatalf("package counter %d taken from the planted record", got)
	}
	if fi, err := os.Lstat(recPath); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the planted link was replaced or removed: %v %v", fi, err)
	}
	if got := testCounter(t, b, "share"); got < 1 {
		t.Errorf("errors_total{stage=share} = %v, want the refused share counted", got)
	}
}

// testCounter reads virtwatt_errors_total{stage}.
func testCounter(t *testing.T, a *Agent, stage string) float64 {
	t.Helper()
	return testutil.ToFloat64(a.obs.errors.WithLabelValues(stage))
}

// TestPruneLeavesMountsInVanishedDomainDirs: a file system mounted inside
// the directory of a vanished domain keeps its files when the directory is
// pruned; the refusal is logged once, then summarized, not once per prune.
func TestPruneLeavesMountsInVanishedDomainDirs(t *testing.T) {
	cfg := testConfig(t)
	cfg.PruneAfter = 2 * time.Minute
	h := newFakeHost(9, 2)
	logs, logger := logcapture.New()
	w, err := share.NewWriter(cfg.ShareRoot)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	a, err := New(cfg, h.sources(), w, state.New(), nil, logger)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	h.advance(time.Second)
	a.Tick(ctx)
	gone := filepath.Join(cfg.ShareRoot, h.doms[0].Name)
	mnt := filepath.Join(gone, "scratch")
	mountTmpfs(t, mnt, "size=1m")
	keep := filepath.Join(mnt, "keep")
	if err := os.WriteFile(keep, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	h.doms = h.doms[1:]
	for range 20 { // 10 minutes: the directory is due for pruning 8 times
		h.advance(30 * time.Second)
		a.Tick(ctx)
	}
	if b, err := os.ReadFile(keep); err != nil || string(b) != "keep" {
		t.Fatalf("file on the tmpfs inside the pruned directory: %q, %v", b, err)
	}
	if _, err := os.Lstat(filepath.Join(gone, share.RecordFile)); !os.IsNotExist(err) {
		t.Errorf("the rest of the directory was not pruned: %v", err)
	}
	prune := logcapture.Messages(logs.With("stage", "prune"))
	// Once when found, then a summary an hour, not a line per try.
	if len(prune) != 1 || prune[0] != "prune failing" {
		t.Fatalf("prune lines %q", prune)
	}
	if got := testCounter(t, a, "prune"); got < 5 {
		t.Errorf("errors_total{stage=prune} = %v, want each refused prune counted", got)
	}
	// Unmounted, the directory goes at the next try, and that is logged.
	if err := syscall.Unmount(mnt, 0); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		h.advance(30 * time.Second)
		a.Tick(ctx)
	}
	if _, err := os.Lstat(gone); !os.IsNotExist(err) {
		t.Errorf("%s still there after the unmount: %v", gone, err)
	}
	if lines := logcapture.Messages(logs.With("stage", "prune")); lines[len(lines)-1] != "prune recovered" {
		t.Errorf("prune lines %q, want the last one prune recovered", lines)
	}
}

// mountTmpfs mounts a tmpfs at dir (created) for the test's duration; it
// fails the test when VIRTWATT_REQUIRE_TOOLS is set and it cannot (not
// root), else skips it.
func mountTmpfs(t *testing.T, dir, opts string) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("VIRTWATT_REQUIRE_TOOLS") != "" {
			t.Fatal("this test mounts a tmpfs and must run as root (VIRTWATT_REQUIRE_TOOLS is set)")
		}
		t.Skip("not root: cannot mount a tmpfs")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, opts); err != nil {
		t.Fatalf("mount tmpfs at %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			t.Errorf("unmount %s: %v", dir, err) // EINVAL, ENOENT: the test unmounted it
		}
	})
}

// TestEmbodiedInRecords: the host's embodied emissions over its lifetime
// are spread by allocated vCPUs over max(allocated, host CPUs); a VM that
// is not running gets none.
func TestEmbodiedInRecords(t *testing.T) {
	cfg := testConfig(t)
	cfg.EmbodiedKgCO2e, cfg.LifetimeYears = 8766, 2 // 500 g/h for the host
	h := newFakeHost(7, 4)                          // 16 CPUs; vCPUs 1, 2, 3, 4
	h.doms[3].State = domain.StatePaused
	a := newTestAgent(t, cfg, h, state.New())
	for range 2 {
		h.advance(time.Second)
		a.Tick(context.Background())
	}
	for i, want := range []float64{500.0 / 16, 1000.0 / 16, 1500.0 / 16, 0} {
		rec, err := a.writer.ReadRecord(nameFor(i))
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(rec.EmbodiedGramsPerHour-want) > 1e-9 {
			t.Errorf("%s (%d vCPUs, %s): %v g/h, want %v", nameFor(i), h.doms[i].VCPUs, h.doms[i].State, rec.EmbodiedGramsPerHour, want)
		}
		if (want > 0) != (rec.EmbodiedSource != "") {
			t.Errorf("%s: embodied source %q with %v g/h", nameFor(i), rec.EmbodiedSource, rec.EmbodiedGramsPerHour)
		}
	}
}
