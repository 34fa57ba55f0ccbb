package hostagent

import (
	"context"
	"maps"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/hostagent/domain"
	"github.com/virtwatt/virtwatt/hostagent/fanout"
	"github.com/virtwatt/virtwatt/hostagent/meter"
	"github.com/virtwatt/virtwatt/hostagent/state"
	"github.com/virtwatt/virtwatt/hostagent/view"
	"github.com/virtwatt/virtwatt/share"
)

func testConfig(t *testing.T) Config {
	cfg := DefaultConfig()
	dir := t.TempDir()
	cfg.ShareRoot = filepath.Join(dir, "vms")
	cfg.StateFile = filepath.Join(dir, "state.json")
	cfg.HostName = "testhost"
	return cfg
}

func newTestAgentB(b *testing.B, cfg Config, h *fakeHost) *Agent {
	w, err := share.NewWriter(cfg.ShareRoot)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { w.Close() })
	a, err := New(cfg, h.sources(), w, state.New(), nil, quietLog())
	if err != nil {
		b.Fatal(err)
	}
	return a
}

func newTestAgent(t *testing.T, cfg Config, h *fakeHost, st *state.State) *Agent {
	t.Helper()
	return newTestAgentWith(t, cfg, h.sources(), st)
}

// newTestAgentWith is an agent on src writing shares under cfg.ShareRoot.
func newTestAgentWith(t *testing.T, cfg Config, src Sources, st *state.State) *Agent {
	t.Helper()
	w, err := share.NewWriter(cfg.ShareRoot)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	a, err := New(cfg, src, w, st, nil, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// checkConservation asserts Σ VMs + unattributed == Σ host counted energy
// per zone, to the µJ.
func checkConservation(t *testing.T, st *state.State, zones []string) {
	t.Helper()
	for _, z := range zones {
		var host uint64
		for s := 0; s < 8; s++ {
			host += st.HostEnergyUJ[hostKey(z, s)]
		}
		sum := st.UnattributedUJ[z] + st.ForgottenUJ[z]
		for _, vm := range st.VMs {
			sum += vm.Zones[z].TotalUJ()
		}
		if sum != host {
			t.Fatalf("zone %s: VMs + host share = %d µJ, measured %d µJ (diff %d)", z, sum, host, int64(sum)-int64(host))
		}
	}
}

// checkSnapshotConservation asserts the same identity on what the metrics
// endpoint renders: vanished domains included.
func checkSnapshotConservation(t *testing.T, s *view.Host) {
	t.Helper()
	for zi, z := range s.Zones {
		var host uint64
		for _, c := range s.HostEnergy {
			if c.Kind == z {
				host += c.EnergyUJ
			}
		}
		sum := s.UnattributedUJ[z] + s.ForgottenUJ[z] + s.PendingUJ[z]
		for _, d := range s.Domains {
			sum += d.UsageUJ[zi] + d.IdleUJ[zi]
		}
		if sum != host {
			t.Fatalf("snapshot zone %s: Σ domains + unattributed + forgotten + pending = %d µJ, host %d µJ", z, sum, host)
		}
	}
}

func TestAgentConservesEnergyAcrossChurnAndOutages(t *testing.T) {
	for _, idle := range []string{"host", "vcpus", "busy"} {
		for _, overhead := range []string{"vm", "host"} {
			t.Run(idle+"/"+overhead, func(t *testing.T) {
				cfg := testConfig(t)
				cfg.Idle, cfg.Overhead = idle, overhead
				h := newFakeHost(7, 6)
				st := state.New()
				a := newTestAgent(t, cfg, h, st)
				ctx := context.Background()
				for i := 0; i < 300; i++ {
					switch i {
					case 50: // a VM vanishes
						h.doms = h.doms[1:]
					case 80: // a new one appears with time already on its clock
						h.doms = append(h.doms, domain.Domain{UUID: uuidFor(99), Name: "late", State: domain.StateRunning, VCPUs: 2, VCPUTimeNS: 5e8})
					case 120: // libvirtd goes away for a while
						h.failDom = true
					case 125:
						h.failDom = false
					case 200: // a VM's qemu restarts: its counters go back to 0
						h.doms[0].VCPUTimeNS, h.doms[0].CPUTimeNS = 0, 0
					case 250:
						h.doms[1].State = domain.StatePaused
					}
					h.advance(time.Second)
					split := a.Tick(ctx)
					checkSnapshotConservation(t, a.Snapshot())
					if split { // between splits, energy waits in pending
						checkConservation(t, st, cfg.Zones)
					} else if !h.failDom {
						t.Fatalf("tick %d did not split", i)
					}
				}
			})
		}
	}
}

func TestAgentDomainOutageAttributesAfterReconnect(t *testing.T) {
	cfg := testConfig(t)
	cfg.Idle = "host"
	h := newFakeHost(3, 2)
	st := state.New()
	a := newTestAgent(t, cfg, h, st)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		h.advance(time.Second)
		a.Tick(ctx)
	}
	before := st.VMs[uuidFor(0)].Zones["package"].UsageUJ
	h.failDom = true
	for i := 0; i < 3; i++ {
		h.advance(time.Second)
		if a.Tick(ctx) {
			t.Fatal("tick reported a split while domains were unreadable")
		}
	}
	if got := st.VMs[uuidFor(0)].Zones["package"].UsageUJ; got != before {
		t.Fatalf("energy attributed during the outage: %d → %d", before, got)
	}
	h.failDom = false
	h.advance(time.Second)
	if !a.Tick(ctx) {
		t.Fatal("no split after reconnect")
	}
	if got := st.VMs[uuidFor(0)].Zones["package"].UsageUJ; got <= before {
		t.Fatalf("energy of the outage not attributed after reconnect: %d → %d", before, got)
	}
	checkConservation(t, st, cfg.Zones)
}

func TestAgentWritesSharesForEveryDefinedDomain(t *testing.T) {
	cfg := testConfig(t)
	h := newFakeHost(1, 3)
	h.doms[1].State = domain.StatePaused
	h.doms[2].State = domain.StateShutoff
	a := newTestAgent(t, cfg, h, state.New())
	for i := 0; i < 3; i++ {
		h.advance(time.Second)
		a.Tick(context.Background())
	}
	for _, d := range h.doms {
		rec, err := share.ReadRecord(filepath.Join(cfg.ShareRoot, d.Name))
		if err != nil {
			t.Fatalf("%s: %v", d.Name, err)
		}
		if rec.UUID != d.UUID || rec.Domain != d.Name || rec.Host != "testhost" {
			t.Fatalf("%s: record %+v", d.Name, rec)
		}
		tree, err := share.ReadTree(filepath.Join(cfg.ShareRoot, d.Name))
		if err != nil {
			t.Fatalf("%s tree: %v", d.Name, err)
		}
		if tree.PackageUJ != rec.Zones["package"].TotalUJ()%share.TreeMaxRangeUJ || !tree.HasDRAM {
			t.Fatalf("%s: tree %+v disagrees with record %+v", d.Name, tree, rec.Zones)
		}
	}
	run, _ := share.ReadRecord(filepath.Join(cfg.ShareRoot, h.doms[0].Name))
	off, _ := share.ReadRecord(filepath.Join(cfg.ShareRoot, h.doms[2].Name))
	if run.Sequence != 3 {
		t.Fatalf("running domain written %d times in 3 ticks", run.Sequence)
	}
	if off.Sequence != 1 {
		t.Fatalf("shut-off domain rewritten each tick: sequence %d", off.Sequence)
	}
}

// A SIGKILL leaves the last saved state file; a new process must continue
// every counter from it: same instance, no reset, no double count.
func TestStateContinuityAfterKill(t *testing.T) {
	cfg := testConfig(t)
	h := newFakeHost(11, 3)
	h.rangeUJ = 300_000_000 // wraps every ~15 ticks: at most once over the downtime
	ctx := context.Background()
	a := newTestAgent(t, cfg, h, state.New())
	a.Tick(ctx) // baseline
	start := maps.Clone(h.total)
	for i := 0; i < 20; i++ {
		h.advance(time.Second)
		a.Tick(ctx)
	}
	dir := filepath.Join(cfg.ShareRoot, h.doms[0].Name)
	before, err := share.ReadRecord(dir)
	if err != nil {
		t.Fatal(err)
	}
	// "kill": drop a without any shutdown; only what is on disk survives.
	st, err := state.Load(cfg.StateFile)
	if err != nil {
		t.Fatal(err)
	}
	h.advance(time.Second) // the tick lost while down
	b := newTestAgent(t, cfg, h, st)
	var prev uint64 = before.Zones["package"].TotalUJ()
	for i := 0; i < 5; i++ {
		h.advance(time.Second)
		b.Tick(ctx)
		rec, err := share.ReadRecord(dir)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Instance != before.Instance {
			t.Fatalf("instance changed across restart: %s → %s", before.Instance, rec.Instance)
		}
		if rec.Sequence <= before.Sequence {
			t.Fatalf("sequence went back: %d → %d", before.Sequence, rec.Sequence)
		}
		cur := rec.Zones["package"].TotalUJ()
		if cur < prev {
			t.Fatalf("counter went back after restart: %d → %d", prev, cur)
		}
		// no jump: one tick can never give a VM more than the host measured in it
		if cur-prev > 2*40_000_000 {
			t.Fatalf("counter jumped by %d µJ after restart", cur-prev)
		}
		prev = cur
	}
	checkConservation(t, st, cfg.Zones)
	// The downtime was measured: the state's host energy is exactly what the
	// meter used since the baseline, nothing lost and nothing counted twice.
	for key, e := range h.total {
		if got, want := st.HostEnergyUJ[key], e-start[key]; got != want {
			t.Fatalf("%s: state has %d µJ, the meter used %d µJ since the baseline", key, got, want)
		}
	}
}

// A restart after a long downtime cannot trust the saved raw counters: it
// takes fresh baselines and the downtime is not counted, but nothing goes back.
func TestLongDowntimeTakesFreshBaselines(t *testing.T) {
	cfg := testConfig(t)
	h := newFakeHost(12, 2)
	ctx := context.Background()
	a := newTestAgent(t, cfg, h, state.New())
	for i := 0; i < 5; i++ {
		h.advance(time.Second)
		a.Tick(ctx)
	}
	st, err := state.Load(cfg.StateFile)
	if err != nil {
		t.Fatal(err)
	}
	before := maps.Clone(st.HostEnergyUJ)
	h.advance(2 * maxRestoreGap)
	b := newTestAgent(t, cfg, h, st)
	if b.Tick(ctx); !maps.Equal(st.HostEnergyUJ, before) {
		t.Fatalf("first tick after a long downtime counted energy: %v → %v", before, st.HostEnergyUJ)
	}
	h.advance(time.Second)
	b.Tick(ctx)
	checkConservation(t, st, cfg.Zones)
}

// If the state file fell behind the shares (saves failed, an old backup was
// restored), the domain gets a new instance so its guest never sees a
// counter go back under the same instance.
func TestShareAheadOfStateStartsNewInstance(t *testing.T) {
	cfg := testConfig(t)
	h := newFakeHost(13, 1)
	ctx := context.Background()
	a := newTestAgent(t, cfg, h, state.New())
	a.Tick(ctx)
	h.advance(time.Second)
	a.Tick(ctx)
	old, err := state.Load(cfg.StateFile)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		h.advance(time.Second)
		a.Tick(ctx)
	}
	dir := filepath.Join(cfg.ShareRoot, h.doms[0].Name)
	ahead, err := share.ReadRecord(dir)
	if err != nil {
		t.Fatal(err)
	}
	b := newTestAgent(t, cfg, h, old) // restarted from the stale state
	h.advance(time.Second)
	b.Tick(ctx)
	rec, err := share.ReadRecord(dir)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Instance == ahead.Instance {
		t.Fatalf("same instance %s although the counter went from %d to %d µJ", rec.Instance,
			ahead.Zones["package"].TotalUJ(), rec.Zones["package"].TotalUJ())
	}
	// The new instance counts from zero: one tick's energy, not the lifetime again.
	if got := rec.Zones["package"].TotalUJ(); got > 2*40_000_000 {
		t.Fatalf("new instance starts at %d µJ, not near zero", got)
	}
	// The host's own counters (metrics) are not affected.
	if vm := old.VMs[h.doms[0].UUID]; vm.Zones["package"].TotalUJ() < rec.Zones["package"].TotalUJ() {
		t.Fatal("lifetime counter below the instance's")
	}
}

func TestCounterDelta(t *testing.T) {
	const limit = 1000
	cases := []struct {
		name            string
		cur, prev       uint64
		seen            bool
		wantD, wantKeep uint64
	}{
		{"growth", 1500, 1000, true, 500, 1500},
		{"not reported keeps the previous value", 0, 1000, true, 0, 1000},
		{"qemu restarted", 300, 1000, true, 300, 300},
		{"went down but too far for a restart", 5000, 90000, true, 0, 5000},
		{"impossible growth", 9000, 1000, true, 0, 9000},
		{"new domain started in the interval", 800, 0, false, 800, 800},
		{"new domain that ran long before", 50000, 0, false, 0, 50000},
		{"new domain not reporting", 0, 0, false, 0, 0},
	}
	for _, c := range cases {
		d, keep := counterDelta(c.cur, c.prev, c.seen, limit)
		if d != c.wantD || keep != c.wantKeep {
			t.Errorf("%s: counterDelta(%d, %d, %v) = %d, %d; want %d, %d", c.name, c.cur, c.prev, c.seen, d, keep, c.wantD, c.wantKeep)
		}
	}
}

// A stat missing for one tick (libvirt leaves cpu.time out while it
// reattaches cgroups) must not hand the domain its whole lifetime again.
func TestMissingStatDoesNotJump(t *testing.T) {
	cfg := testConfig(t)
	h := newFakeHost(14, 2)
	h.doms[0].VCPUTimeNS, h.doms[0].CPUTimeNS = 500_000e9, 520_000e9 // a long-running VM
	st := state.New()
	a := newTestAgent(t, cfg, h, st)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		h.advance(time.Second)
		a.Tick(ctx)
	}
	saved := h.doms[0].CPUTimeNS
	h.doms[0].CPUTimeNS = 0
	h.advance(time.Second)
	a.Tick(ctx)
	h.doms[0].CPUTimeNS = saved + 1e9
	before := st.VMs[uuidFor(0)].CPUTimeNS
	h.advance(time.Second)
	a.Tick(ctx)
	if got := st.VMs[uuidFor(0)].CPUTimeNS - before; got > 3e9 {
		t.Fatalf("CPU time jumped by %.0f s in one tick", float64(got)/1e9)
	}
	checkConservation(t, st, cfg.Zones)
}

func TestPruneRemovesVanishedDomainDirectories(t *testing.T) {
	cfg := testConfig(t)
	cfg.PruneAfter = 10 * time.Minute
	h := newFakeHost(5, 2)
	a := newTestAgent(t, cfg, h, state.New())
	ctx := context.Background()
	h.advance(time.Second)
	a.Tick(ctx)
	gone := h.doms[0].Name
	h.doms = h.doms[1:]
	for i := 0; i < 4; i++ { // 8 minutes
		h.advance(2 * time.Minute)
		a.Tick(ctx)
	}
	if _, err := share.ReadRecord(filepath.Join(cfg.ShareRoot, gone)); err != nil {
		t.Fatalf("directory pruned before prune_after: %v", err)
	}
	for i := 0; i < 2; i++ {
		h.advance(2 * time.Minute)
		a.Tick(ctx)
	}
	names, err := a.writer.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if n == gone {
			t.Fatalf("directory of %s kept after prune_after", gone)
		}
	}
	if len(names) != 1 {
		t.Fatalf("remaining dirs %v", names)
	}
	if _, ok := a.st.VMs[uuidFor(0)]; ok {
		t.Fatal("counters of the pruned domain kept in the state")
	}
	checkConservation(t, a.st, cfg.Zones)
}

func TestMatchZones(t *testing.T) {
	h := newFakeHost(1, 0)
	cfg := DefaultConfig()
	if err := matchZones(&cfg, h, quietLog()); err != nil || len(cfg.Zones) != 2 {
		t.Fatalf("package+dram: %v %v", cfg.Zones, err)
	}
	cfg.Zones = []string{"psys"}
	if err := matchZones(&cfg, h, quietLog()); err == nil || !strings.Contains(err.Error(), "psys") {
		t.Fatalf("psys on a meter without it: %v", err)
	}
	noDRAM := &filteredMeter{Meter: h, drop: "dram"}
	cfg.Zones = []string{"package", "dram"}
	if err := matchZones(&cfg, noDRAM, quietLog()); err != nil || strings.Join(cfg.Zones, ",") != "package" {
		t.Fatalf("no dram: zones %v, err %v", cfg.Zones, err)
	}
}

type filteredMeter struct {
	meter.Meter
	drop string
}

func (m *filteredMeter) Read() ([]meter.Reading, error) {
	rs, err := m.Meter.Read()
	out := rs[:0]
	for _, r := range rs {
		if r.Kind != m.drop {
			out = append(out, r)
		}
	}
	return out, err
}

// Shutting down while libvirt is unreachable must not save host counters
// that include energy no VM or host share has yet.
func TestSaveFinalSkipsPendingEnergy(t *testing.T) {
	cfg := testConfig(t)
	h := newFakeHost(15, 2)
	ctx := context.Background()
	a := newTestAgent(t, cfg, h, state.New())
	for i := 0; i < 3; i++ {
		h.advance(time.Second)
		a.Tick(ctx)
	}
	h.failDom = true
	h.advance(time.Second)
	a.Tick(ctx)
	if err := a.SaveFinal(); err != nil {
		t.Fatal(err)
	}
	st, err := state.Load(cfg.StateFile)
	if err != nil {
		t.Fatal(err)
	}
	checkConservation(t, st, cfg.Zones)
}

// parallelWritesFrom is where the agent's ticks start writing in parallel.
const parallelWritesFrom = fanout.ParallelFrom

// With several writers a large tick writes in parallel; every share must
// come out the same as with one writer.
func TestParallelShareWrites(t *testing.T) {
	cfg := testConfig(t)
	h := newFakeHost(16, 2*parallelWritesFrom)
	st := state.New()
	a := newTestAgent(t, cfg, h, st)
	for range 3 {
		w, err := share.NewWriter(cfg.ShareRoot)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Close() })
		a.AddWriters(w)
	}
	ctx := context.Background()
	for i := 0; i < 4; i++ {
		h.advance(time.Second)
		a.Tick(ctx)
	}
	used := map[int]bool{}
	for _, d := range h.doms {
		rec, err := share.ReadRecord(filepath.Join(cfg.ShareRoot, d.Name))
		if err != nil {
			t.Fatalf("%s: %v", d.Name, err)
		}
		vm := st.VMs[d.UUID]
		if rec.Sequence != 4 || rec.Zones["package"] != vm.Zones["package"] {
			t.Fatalf("%s: record seq %d %+v, state %+v", d.Name, rec.Sequence, rec.Zones["package"], vm.Zones["package"])
		}
		used[fanout.WriterFor(d.Name, 4)] = true
	}
	if len(used) != 4 {
		t.Fatalf("only writers %v used", used)
	}
	checkConservation(t, st, cfg.Zones)
}

// Cumulative CPU time near the top of its range saturates: it never wraps
// back to a small value.
func TestCumulativeCPUTimeSaturates(t *testing.T) {
	cfg := testConfig(t)
	h := newFakeHost(15, 1)
	st := state.New()
	a := newTestAgent(t, cfg, h, st)
	ctx := context.Background()
	h.advance(time.Second)
	a.Tick(ctx)
	vm := st.VMs[uuidFor(0)]
	vm.VCPUTimeNS, vm.CPUTimeNS = math.MaxUint64-1, math.MaxUint64-1
	for range 3 {
		h.advance(time.Second)
		a.Tick(ctx)
	}
	if vm.VCPUTimeNS != math.MaxUint64 || vm.CPUTimeNS != math.MaxUint64 {
		t.Fatalf("cumulative CPU time = %d / %d ns, want saturated at %d", vm.VCPUTimeNS, vm.CPUTimeNS, uint64(math.MaxUint64))
	}
	checkConservation(t, st, cfg.Zones)
}
