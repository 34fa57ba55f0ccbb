//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/tests/fakerapl"
	"github.com/virtwatt/virtwatt/tests/guestimage"
)

// Settings of the run. The host ticks every second; the guests poll their
// share twice per tick so that a guest lags its host by at most one tick.
const (
	tick         = time.Second
	guestPoll    = 500 * time.Millisecond
	pue          = 1.5
	intensity    = 300.0 // g/kWh, set on the guests' command line
	pkgW, dramW  = 40.0, 4.0
	sockets      = 2
	wrapEvery    = 10 * time.Second // every fake counter wraps this often
	hostPkgW     = pkgW * sockets
	guestAgentOn = ":9100"
)

// env is what the phases of the test share.
type env struct {
	s         *suite
	hostBin   string
	hostArgs  []string
	host      *proc
	hostURL   string
	prom      string
	tree      *fakerapl.Tree
	meter     *fakeMeter // steps tree
	a, b      *guest
	history   *hostHistory
	libvirtd  *daemon
	shareRoot string
	roRoot    string // read-only views of virtiofs shares (virtwatt-host's ro_root)

	// The fleet (fleet_test.go): the central Prometheus, hypervisor B (a
	// demo host) and its edge Prometheus; prom is hypervisor A's edge.
	central, edgeB string // Prometheus base URLs
	demo           *proc
	demoURL        string
}

func TestEndToEnd(t *testing.T) {
	s := newSuite(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.logf("run directory %s", s.work)
	t.Cleanup(func() { s.checkNothingLeft() })

	s.ensureInstalled(ctx)
	s.logf("tools present; building the agents")
	e := &env{s: s}
	var guestBin string
	e.hostBin, guestBin = s.buildAgents(ctx)
	s.logf("agents built")

	img, err := guestimage.Build(guestimage.Config{
		KernelDir: filepath.Join(s.cache, "kernel"),
		Busybox:   "/bin/busybox",
		Program:   guestBin,
		ProgramArgs: []string{"--share-dir", "/mnt/virtwatt", "--listen", guestAgentOn,
			"--poll-interval", guestPoll.String(), "--pue", fmt.Sprint(pue), "--carbon-intensity", fmt.Sprint(intensity)},
		OutDir: s.mkdir("guest"),
	})
	if err != nil {
		t.Fatal(err)
	}
	s.logf("guest image built")

	e.tree, err = fakerapl.New(s.mkdir("rapl"), fakerapl.Standard(sockets, pkgW, dramW, wrapEvery), 0.05, uint64(time.Now().UnixNano()))
	if err != nil {
		t.Fatal(err)
	}
	raplCtx, stopRapl := context.WithCancel(ctx)
	raplDone := make(chan error, 1)
	e.meter = &fakeMeter{tree: e.tree, started: time.Now()}
	go func() { raplDone <- e.meter.run(raplCtx) }()
	t.Cleanup(func() {
		stopRapl()
		if err := <-raplDone; err != nil {
			t.Errorf("fake powercap tree: %v", err)
		}
	})

	e.libvirtd = s.ensureLibvirt(ctx)
	t.Cleanup(s.stopAll) // before libvirtd stops (cleanups run last-in first-out)
	s.removeLeftovers(ctx)
	s.logf("libvirtd answers on %s", libvirtURI)

	e.shareRoot = s.mkdir("shares")
	mk := func(name, fs string, busy bool, team string) *guest {
		return &guest{Name: domPrefix + name, FS: fs, Busy: busy, Port: freePort(t), Kernel: img.Kernel, Initrd: img.Initrd,
			Console: filepath.Join(s.mkdir("console"), name+".log"), Job: "guest-" + name,
			ShareDir: filepath.Join(e.shareRoot, domPrefix+name), Team: team, Project: "e2e"}
	}
	// Team web also runs on the fleet's second hypervisor (the demo's web VM).
	e.a, e.b = mk("a", "virtiofs", true, "web"), mk("b", "9p", false, "ops")
	e.roRoot = s.path("ro")
	t.Cleanup(func() { unmountUnder(e.roRoot) }) // after the domains are gone
	for _, g := range []*guest{e.a, e.b} {
		s.define(ctx, g)
	}
	s.logf("defined %s and %s without shares", e.a.Name, e.b.Name)
	e.attachShares(ctx)
	s.logf("attached %s (virtiofs, busy) and %s (9p, idle) with virtwatt-host attach", e.a.Name, e.b.Name)

	hostPort := freePort(t)
	e.hostURL = fmt.Sprintf("http://127.0.0.1:%d/metrics", hostPort)
	e.hostArgs = []string{"--powercap-root", e.tree.Root(), "--meter", "powercap", "--proc-root", "/proc",
		"--libvirt-uri", libvirtURI, "--share-root", e.shareRoot, "--ro-root", e.roRoot, "--state-file", s.path("host-state.json"),
		"--listen", fmt.Sprintf("127.0.0.1:%d", hostPort), "--interval", tick.String(), "--idle", "busy",
		"--overhead", "vm", "--log-level", "debug"}
	e.startHost()
	s.logf("virtwatt-host answers on %s", e.hostURL)

	// attach created the share directories; virtwatt-host keeps them (and A's
	// read-only view, which it takes over).
	if !waitFor(10*time.Second, 50*time.Millisecond, func() bool {
		_, errA := os.Stat(e.a.ShareDir)
		_, errB := os.Stat(e.b.ShareDir)
		return errA == nil && errB == nil
	}) {
		t.Fatalf("virtwatt-host created no share directories %s, %s within 10 s:\n%s", e.a.ShareDir, e.b.ShareDir, tail(e.host.log, 20))
	}

	central := e.startCentral(ctx)
	s.logf("fleet: central prometheus (remote-write receiver) at %s", central)
	e.prom = s.startPrometheusWith(ctx, promConfig{Name: "prometheus", Targets: []target{
		{"virtwatt-host", fmt.Sprintf("127.0.0.1:%d", hostPort)},
		{e.a.Job, fmt.Sprintf("127.0.0.1:%d", e.a.Port)},
		{e.b.Job, fmt.Sprintf("127.0.0.1:%d", e.b.Port)},
	}, RuleFiles: s.ruleFiles(), External: map[string]string{"site": edgeA}, RemoteWrite: []string{central}})
	s.logf("prometheus ready at %s (the shipped rules loaded; remote-writes to the central one)", e.prom)

	for _, g := range []*guest{e.a, e.b} {
		if _, err := virsh(ctx, "start", g.Name); err != nil {
			t.Fatalf("start %s: %v", g.Name, err)
		}
	}
	s.logf("domains started; waiting for the guests to boot (TCG)")
	t.Cleanup(func() {
		if t.Failed() {
			for _, g := range []*guest{e.a, e.b} {
				t.Logf("console of %s:\n%s", g.Name, tail(g.Console, 30))
			}
			t.Logf("virtwatt-host log:\n%s", tail(e.host.log, 40))
		}
	})
	for _, g := range []*guest{e.a, e.b} {
		s.waitBooted(g, 2*time.Minute)
		s.logf("%s booted: %s", g.Name, consoleLine(g, "VW-MOUNT-OK"))
	}

	e.history = &hostHistory{url: e.hostURL, h: map[string][]hostValue{}}
	stopHistory := make(chan struct{})
	var historyOnce sync.Once
	endHistory := func() { historyOnce.Do(func() { close(stopHistory) }) }
	go e.history.poll(stopHistory, 100*time.Millisecond)
	defer endHistory()

	if !waitFor(60*time.Second, 250*time.Millisecond, func() bool {
		r, err := promQuery(e.prom, `sum(up) == 3 and sum(virtwatt_share_up) == 2`, time.Time{})
		return err == nil && len(r) == 1
	}) {
		r, err := promQuery(e.prom, `up or virtwatt_share_up`, time.Time{})
		t.Fatalf("not all targets up with their share within 60 s: %v %v", r, err)
	}
	s.logf("Prometheus scrapes all three targets; both guests read their share")

	t.Run("TargetsUp", e.targetsUp)
	t.Run("Doctor", e.doctor)
	t.Run("ReadOnlyShares", e.readOnlyShares)
	t.Run("HostWriteReachesGuest", e.hostWriteReachesGuest)
	endHistory() // its 10 scrapes a second of the host would only load the machine from here on
	s.logf("CPU s so far (load %s): %s", loadavg(), s.procCPU())
	// The busy window starts after the latency phase, whose fast polling of
	// the guests' endpoints costs the idle guest vCPU time under TCG.
	busyFrom := time.Now()
	t.Run("Conservation", e.conservation)
	t.Run("Emissions", e.emissions)
	t.Run("BusySplit", func(t *testing.T) { e.busySplit(t, busyFrom) })
	t.Run("Expressions", e.expressions)
	t.Run("Fleet", e.fleet)
	t.Run("HostKillRestart", e.hostKillRestart)
	t.Run("LibvirtdRestart", e.libvirtdRestart)
	t.Run("AfterRestarts", e.afterRestarts)
	// Last: the domain it defines stays in the host's metrics (gone) until pruned.
	t.Run("DefinedLater", e.definedLater)
	s.logf("all phases done")
}

// startHost starts virtwatt-host (again) and waits for its endpoint.
func (e *env) startHost() {
	e.s.t.Helper()
	e.host = e.s.startProc("virtwatt-host", append([]string{e.hostBin}, e.hostArgs...)...)
	if !waitFor(15*time.Second, 50*time.Millisecond, func() bool {
		if !e.host.running() {
			return true // exited: reported below
		}
		resp, err := http.Get(e.hostURL)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}) || !e.host.running() {
		e.s.t.Fatalf("virtwatt-host does not serve %s:\n%s", e.hostURL, tail(e.host.log, 30))
	}
}

// consoleLine returns the first console line of g containing marker.
func consoleLine(g *guest, marker string) string {
	b, _ := os.ReadFile(g.Console)
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, marker) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

// checkNothingLeft reports anything of the suite still running or defined
// once every other cleanup has run.
func (s *suite) checkNothingLeft() {
	s.mu.Lock()
	for _, p := range s.procs {
		if p.running() {
			s.t.Errorf("%s (pid %d) still running after cleanup", p.name, p.cmd.Process.Pid)
		}
	}
	s.mu.Unlock()
	for _, d := range s.daemons {
		if alive(d.lastPID) {
			s.t.Errorf("%s (pid %d), started by the suite, still running after cleanup", d.name, d.lastPID)
		}
	}
	ents, _ := os.ReadDir("/proc")
	for _, en := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", en.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), "guest="+domPrefix) {
			s.t.Errorf("qemu still running after cleanup: pid %s", en.Name())
		}
	}
	if m, _ := filepath.Glob("/etc/libvirt/qemu/" + domPrefix + "*.xml"); len(m) > 0 {
		s.t.Errorf("domains still defined after cleanup: %v", m)
	}
	b, _ := os.ReadFile("/proc/mounts")
	if strings.Contains(string(b), s.work) {
		s.t.Errorf("mounts under %s remain after cleanup", s.work)
	}
}
