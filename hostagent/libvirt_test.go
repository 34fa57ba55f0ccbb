package hostagent

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"libvirt.org/go/libvirt"

	"github.com/virtwatt/virtwatt/hostagent/libvirtsrc"
	"github.com/virtwatt/virtwatt/hostagent/state"
	"github.com/virtwatt/virtwatt/share"
)

const lifecycleXML = `<domain type='test'>
  <name>lv-lifecycle</name>
  <uuid>abcdabcd-0000-4000-8000-000000000042</uuid>
  <memory>262144</memory>
  <vcpu>2</vcpu>
  <os><type>hvm</type></os>
</domain>`

// TestAgentWithLibvirtTestDriver runs the agent on libvirt's test driver:
// test:///default is shared by every connection of the process, so the
// test drives a domain's lifecycle through a second connection and checks
// what the agent makes of it. The test driver reports no CPU statistics,
// so this covers listing, lifecycle and share directories only.
func TestAgentWithLibvirtTestDriver(t *testing.T) {
	const uri = "test:///default"
	ctl, err := libvirt.NewConnect(uri)
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()

	cfg := testConfig(t)
	cfg.PruneAfter = time.Hour
	h := newFakeHost(9, 0) // meter and /proc/stat only
	src, err := libvirtsrc.New(libvirtsrc.Options{URI: uri, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	w, err := share.NewWriter(cfg.ShareRoot)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	st := state.New()
	a, err := New(cfg, Sources{Meter: h, CPU: h.CPU, Domains: src, Now: h.Now}, w, st, nil, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tick := func() {
		t.Helper()
		h.advance(time.Second)
		if !a.Tick(ctx) {
			t.Fatal("tick did not split")
		}
		checkConservation(t, st, cfg.Zones)
	}
	listed := func() map[string]string {
		m := map[string]string{}
		for _, d := range a.Snapshot().Domains {
			m[d.Name] = d.State
		}
		return m
	}
	record := func(name string) *share.Record {
		t.Helper()
		rec, err := share.ReadRecord(filepath.Join(cfg.ShareRoot, name))
		if err != nil {
			t.Fatalf("share of %s: %v", name, err)
		}
		return rec
	}

	tick()
	if got := listed(); got["test"] != "running" || len(got) != 1 {
		t.Fatalf("default test domain not listed as running: %v", got)
	}
	record("test")

	dom, err := ctl.DomainDefineXML(lifecycleXML)
	if err != nil {
		t.Fatal(err)
	}
	defer dom.Free()
	tick()
	if got := listed()["lv-lifecycle"]; got != "shutoff" {
		t.Fatalf("defined domain listed as %q, want shutoff", got)
	}
	if rec := record("lv-lifecycle"); rec.UUID != "abcdabcd-0000-4000-8000-000000000042" {
		t.Fatalf("record uuid %s", rec.UUID)
	}
	seqOff := record("lv-lifecycle").Sequence

	if err := dom.Create(); err != nil {
		t.Fatal(err)
	}
	tick()
	tick()
	if got := listed()["lv-lifecycle"]; got != "running" {
		t.Fatalf("started domain listed as %q", got)
	}
	if seq := record("lv-lifecycle").Sequence; seq < seqOff+2 {
		t.Fatalf("running domain's record not rewritten each tick: sequence %d → %d", seqOff, seq)
	}

	if err := dom.Destroy(); err != nil {
		t.Fatal(err)
	}
	if err := dom.Undefine(); err != nil {
		t.Fatal(err)
	}
	tick()
	if got := listed()["lv-lifecycle"]; got != "gone" {
		t.Fatalf("undefined domain listed as %q, want gone (counters kept until pruned)", got)
	}
	// Its directory keeps its last values until prune_after.
	if rec := record("lv-lifecycle"); rec.Domain != "lv-lifecycle" {
		t.Fatalf("record after undefine: %+v", rec)
	}
}
