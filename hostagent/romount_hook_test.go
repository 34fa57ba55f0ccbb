package hostagent

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/hostagent/domain"
	"github.com/virtwatt/virtwatt/hostagent/domxml"
	"github.com/virtwatt/virtwatt/hostagent/romount"
)

// A domain whose definition exports <ro_root>/<name> over virtiofs gets
// its read-only mount as soon as it is listed, shut off or not; others get
// none; a domain gone from the listing loses it.
func TestROMountSourceFollowsDomains(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("bind mounts need root")
	}
	dir := t.TempDir()
	m := romount.New(filepath.Join(dir, "vms"), filepath.Join(dir, "ro"), quietLog())
	t.Cleanup(func() {
		names, _ := m.Mounted()
		for _, n := range names {
			_ = syscall.Unmount(m.Path(n), syscall.MNT_DETACH)
		}
	})
	def := func(name string, typ domxml.FSType, src string) string {
		x, _, err := domxml.Attach("<domain><name>"+name+"</name><devices>\n</devices></domain>", domxml.Spec{Type: typ, Source: src})
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	defs := map[string]string{
		"fs-off": def("fs-off", domxml.Virtiofs, m.Path("fs-off")),
		"ninep":  def("ninep", domxml.NineP, filepath.Join(m.ShareRoot, "ninep")),
		"plain":  "<domain><name>plain</name></domain>",
	}
	asked := 0
	s := &roMountSource{m: m, log: quietLog(), wanted: map[string]bool{},
		xmls: func(_ context.Context, names []string) (map[string][2]string, error) {
			asked += len(names)
			out := map[string][2]string{}
			for _, n := range names {
				out[n] = [2]string{defs[n], defs[n]}
			}
			return out, nil
		}}
	list := func(names ...string) []domain.Domain {
		var ds []domain.Domain
		for _, n := range names {
			ds = append(ds, domain.Domain{Name: n, State: domain.StateShutoff})
		}
		return ds
	}
	now := time.Now()
	s.update(context.Background(), list("fs-off", "ninep", "plain"), now)
	if got, _ := m.Mounted(); !slices.Equal(got, []string{"fs-off"}) {
		t.Fatalf("mounted %v, want [fs-off]", got)
	}
	// Later ticks read no definition until the refresh.
	asked = 0
	s.update(context.Background(), list("fs-off", "ninep", "plain"), now.Add(time.Second))
	if asked != 0 {
		t.Errorf("%d definitions read on a plain tick, want 0", asked)
	}
	// A domain defined later is read at once.
	defs["fs-new"] = def("fs-new", domxml.Virtiofs, m.Path("fs-new"))
	s.update(context.Background(), list("fs-new", "fs-off", "ninep", "plain"), now.Add(2*time.Second))
	if asked != 1 {
		t.Errorf("%d definitions read for one new domain, want 1", asked)
	}
	if got, _ := m.Mounted(); !slices.Equal(got, []string{"fs-new", "fs-off"}) {
		t.Fatalf("mounted %v, want [fs-new fs-off]", got)
	}
	s.update(context.Background(), list("fs-new", "ninep"), now.Add(3*time.Second))
	if got, _ := m.Mounted(); !slices.Equal(got, []string{"fs-new"}) {
		t.Fatalf("mounted %v after fs-off was undefined, want [fs-new]", got)
	}
}

// --once changes nothing on the host: no mounts.
func TestWithROMountsNotForOnce(t *testing.T) {
	cfg := testConfig(t)
	cfg.RORoot = filepath.Join(t.TempDir(), "ro")
	cfg.Once = true
	if _, wrapped := withROMounts(cfg, nil, quietLog()).(*roMountSource); wrapped {
		t.Error("--once keeps read-only mounts")
	}
	cfg.Once = false
	if _, wrapped := withROMounts(cfg, nil, quietLog()).(*roMountSource); !wrapped {
		t.Error("the agent does not keep read-only mounts")
	}
}
