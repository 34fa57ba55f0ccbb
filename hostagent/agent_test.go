package hostagent

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/hostagent/domain"
	"github.com/virtwatt/virtwatt/hostagent/state"
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
	w, err := share.NewWriter(cfg.ShareRoot)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	a, err := New(cfg, h.sources(), w, st, nil, quietLog())
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
		sum := st.UnattributedUJ[z]
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
func checkSnapshotConservation(t *testing.T, s *Snapshot) {
	t.Helper()
	for _, z := range s.Zones {
		var host uint64
		for _, c := range s.HostEnergy {
			if c.Kind == z {
				host += c.EnergyUJ
			}
		}
		sum := s.UnattributedUJ[z]
		for _, d := range s.Domains {
			sum += d.UsageUJ[z] + d.IdleUJ[z]
		}
		if sum != host {
			t.Fatalf("snapshot zone %s: Σ domains + unattributed = %d µJ, host %d µJ", z, sum, host)
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
					if a.Tick(ctx) { // between splits, energy waits in pending
						checkConservation(t, st, cfg.Zones)
						checkSnapshotConservation(t, a.Snapshot())
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
	ctx := context.Background()
	a := newTestAgent(t, cfg, h, state.New())
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
