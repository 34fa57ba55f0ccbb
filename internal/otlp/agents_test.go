package otlp

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/tests/testbin"
)

// TestAgentsPush runs the real binaries with --otlp.endpoint pointing at
// the in-test receiver: virtwatt-host --demo pushes its per-VM energy,
// virtwatt-guest (on one demo VM's share) the VM's energy, both under
// their service.name, with OTel names and units.
func TestAgentsPush(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs both agents; not in -short")
	}
	host, guest := testbin.Build(t)
	rcv := newReceiver(t)
	dir := t.TempDir()
	testbin.Start(t, host, "--demo", "--share-root", filepath.Join(dir, "vms"), "--state-file", filepath.Join(dir, "state.json"),
		"--web.listen-address", testbin.FreePort(t), "--otlp.endpoint", rcv.srv.URL+"/v1/metrics", "--otlp.interval", "1s",
		"--otlp.header", "Authorization=Bearer h")
	share := filepath.Join(dir, "vms", "demo-web")
	testbin.WaitFor(t, "the demo's share", 20*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(share, "virtwatt.json"))
		return err == nil
	})
	testbin.Start(t, guest, "--share-dir", share, "--web.listen-address", testbin.FreePort(t), "--poll-interval", "1s",
		"--otlp.endpoint", rcv.srv.URL+"/v1/metrics", "--otlp.interval", "1s")

	want := map[string]struct{ metric, unit, attr string }{
		"virtwatt-host":  {"virtwatt_domain_energy_joules", "J", "domain"},
		"virtwatt-guest": {"virtwatt_vm_energy_joules", "J", "zone"},
	}
	seen := map[string]bool{}
	testbin.WaitFor(t, "a push from each agent with its energy", 30*time.Second, func() bool {
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		for i, req := range rcv.reqs {
			for _, rm := range req.GetResourceMetrics() {
				svc := attrMap(rm.GetResource().GetAttributes())["service.name"]
				w, ok := want[svc]
				if !ok {
					continue
				}
				if svc == "virtwatt-host" && rcv.headers[i].Get("Authorization") != "Bearer h" {
					continue
				}
				for _, sm := range rm.GetScopeMetrics() {
					for _, m := range sm.GetMetrics() {
						if m.GetName() != w.metric || m.GetUnit() != w.unit || m.GetSum() == nil {
							continue
						}
						for _, dp := range m.GetSum().GetDataPoints() {
							if attrMap(dp.GetAttributes())[w.attr] != "" && dp.GetAsDouble() > 0 {
								seen[svc] = true
							}
						}
					}
				}
			}
		}
		return len(seen) == len(want)
	})
}
