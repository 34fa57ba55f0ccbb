package hostguest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/tests/testbin"
)

// webUUID is the uuid of the demo's VM "demo-web", the one the guest follows.
const webUUID = "0d3c0a52-6a4e-4c1e-9a31-000000000001"

// pair is a running virtwatt-host --demo and, once startGuest has run, the
// virtwatt-guest that follows the share of its VM demo-web, as that VM's
// agent would.
type pair struct {
	guestBin            string // for track and report
	dir                 string // the host's share root is dir/vms, its state file dir/state.json
	share               string // demo-web's share directory, the guest's --share-dir
	hostAddr, guestAddr string
	host, guest         *testbin.Proc
}

// startHost starts virtwatt-host --demo in a fresh directory, ticking every
// interval, with the extra flags given, and waits for its endpoint.
func startHost(t *testing.T, interval time.Duration, extra ...string) *pair {
	t.Helper()
	hostBin, guestBin := testbin.Build(t)
	p := &pair{guestBin: guestBin, dir: t.TempDir(), hostAddr: testbin.FreePort(t), guestAddr: testbin.FreePort(t)}
	p.share = filepath.Join(p.dir, "vms", "demo-web")
	argv := append([]string{hostBin, "--demo", "--share-root", filepath.Join(p.dir, "vms"), "--state-file", filepath.Join(p.dir, "state.json"),
		"--web.listen-address", p.hostAddr, "--interval", interval.String()}, extra...)
	p.host = testbin.Start(t, argv...)
	testbin.WaitFor(t, "host endpoint", 10*time.Second, func() bool { return testbin.Up(p.hostAddr) })
	return p
}

// startGuest starts virtwatt-guest on demo-web's share, polling every poll
// and with no process series, and waits until it reports the share up.
// It does not estimate (--estimate=false): these tests compare the guest's
// figures with the host's after the host stops, and once the last record
// is 3 intervals old the guest's own estimate would add energy the host
// never counted (a 300 ms host is stale within the tests' 1 s waits).
func (p *pair) startGuest(t *testing.T, poll time.Duration) {
	t.Helper()
	p.guest = testbin.Start(t, p.guestBin, "--share-dir", p.share, "--web.listen-address", p.guestAddr,
		"--poll-interval", poll.String(), "--top-processes", "0", "--estimate=false")
	testbin.WaitFor(t, "guest endpoint", 10*time.Second, func() bool { return testbin.Up(p.guestAddr) })
	testbin.WaitFor(t, "guest share_up", 10*time.Second, func() bool { return testbin.Scrape(t, p.guestAddr)["virtwatt_share_up"] == 1 })
}

// startPair starts the host at PUE 1.5 and 100 gCO2e/kWh, then the guest.
func startPair(t *testing.T, interval, poll time.Duration) *pair {
	t.Helper()
	p := startHost(t, interval, "--pue", "1.5", "--carbon-intensity", "100")
	p.startGuest(t, poll)
	return p
}

// stopHost stops the host with SIGTERM and waits for it: its last record
// and its state file stay.
func (p *pair) stopHost(t *testing.T) {
	t.Helper()
	if err := p.host.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if _, exited := p.host.Wait(10 * time.Second); !exited {
		t.Fatal("virtwatt-host did not stop within 10 s of SIGTERM")
	}
}

// readState decodes the host's state file into v.
func (p *pair) readState(t *testing.T, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(p.dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("state file: %v", err)
	}
}
