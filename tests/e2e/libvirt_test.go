//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/virtwatt/virtwatt/hostagent/domxml"
	"github.com/virtwatt/virtwatt/hostagent/romount"
)

const (
	libvirtURI = "qemu:///system"
	domPrefix  = "vw-e2e-" // every domain the suite defines; leftovers are removed at start
)

// virsh runs virsh against qemu:///system.
func virsh(ctx context.Context, args ...string) (string, error) {
	return run(ctx, "", nil, "virsh", append([]string{"-q", "-c", libvirtURI}, args...)...)
}

// daemon is libvirtd or virtlogd, found running or started by the suite.
type daemon struct {
	name    string
	pidFile string
	ours    bool // started by the suite: stopped at the end
	lastPID int  // the pid seen at the last start or stop
}

func (d *daemon) pid() int {
	b, err := os.ReadFile(d.pidFile)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if pid > 0 {
		d.lastPID = pid
	}
	return pid
}

func alive(pid int) bool { return pid > 0 && syscall.Kill(pid, 0) == nil }

// stop sends SIGTERM and waits for the process to be gone.
func (d *daemon) stop() error {
	pid := d.pid()
	if !alive(pid) {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return fmt.Errorf("%s pid %d: %w", d.name, pid, err)
	}
	if !waitFor(15*time.Second, 50*time.Millisecond, func() bool { return !alive(pid) }) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		return fmt.Errorf("%s pid %d ignored SIGTERM for 15 s; killed", d.name, pid)
	}
	return nil
}

// startDaemon starts `name -d -p pidFile` and waits for the pid file.
func startDaemon(ctx context.Context, name, pidFile string) error {
	os.Remove(pidFile)
	if _, err := run(ctx, "", nil, name, "-d", "-p", pidFile); err != nil {
		return err
	}
	if !waitFor(10*time.Second, 20*time.Millisecond, func() bool { _, err := os.Stat(pidFile); return err == nil }) {
		return fmt.Errorf("%s wrote no pid file %s", name, pidFile)
	}
	return nil
}

// libvirtAnswers says whether libvirtd serves qemu:///system.
func libvirtAnswers(ctx context.Context) bool {
	c, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := virsh(c, "list", "--all")
	return err == nil
}

// ensureLibvirt makes qemu:///system answer, starting virtlogd and libvirtd
// when they are not running. It returns libvirtd's handle.
func (s *suite) ensureLibvirt(ctx context.Context) *daemon {
	s.t.Helper()
	// /dev/kvm on these machines is root-only and cannot boot a guest anyway;
	// libvirt then re-probes qemu (~4 s) on every call. Debian's udev default
	// (group kvm, 0660) stops that; the guests use TCG (<domain type='qemu'>).
	if fi, err := os.Stat("/dev/kvm"); err == nil && fi.Mode().Perm() != 0o660 {
		_, _ = run(ctx, "", nil, "chgrp", "kvm", "/dev/kvm")
		_ = os.Chmod("/dev/kvm", 0o660)
	}
	lv := &daemon{name: "libvirtd", pidFile: "/run/libvirtd.pid"}
	if libvirtAnswers(ctx) {
		s.logf("libvirtd already running (pid %d); the suite will restart it once and leave it running", lv.pid())
		return lv
	}
	if out, _ := run(ctx, "", nil, "pgrep", "-x", "virtlogd"); strings.TrimSpace(out) == "" {
		vl := &daemon{name: "virtlogd", pidFile: s.path("virtlogd.pid"), ours: true}
		if err := startDaemon(ctx, "virtlogd", vl.pidFile); err != nil {
			s.t.Fatal(err)
		}
		vl.pid()
		s.daemons = append(s.daemons, vl)
		s.t.Cleanup(func() {
			if err := vl.stop(); err != nil {
				s.t.Error(err)
			}
		})
	}
	lv = &daemon{name: "libvirtd", pidFile: s.path("libvirtd.pid"), ours: true}
	if err := startDaemon(ctx, "libvirtd", lv.pidFile); err != nil {
		s.t.Fatal(err)
	}
	lv.pid()
	s.daemons = append(s.daemons, lv)
	s.t.Cleanup(func() {
		if lv.ours {
			if err := lv.stop(); err != nil {
				s.t.Error(err)
			}
		}
	})
	if !waitFor(20*time.Second, 50*time.Millisecond, func() bool { return libvirtAnswers(ctx) }) {
		s.t.Fatalf("libvirtd (pid %d) does not answer on %s", lv.pid(), libvirtURI)
	}
	return lv
}

// restartLibvirtd stops libvirtd by PID and starts it again (as the suite
// found it: a daemon it did not start keeps running afterwards, as before).
// It returns when qemu:///system answers again.
func (s *suite) restartLibvirtd(ctx context.Context, lv *daemon) error {
	if err := lv.stop(); err != nil {
		return err
	}
	if !lv.ours {
		lv.pidFile = "/run/libvirtd.pid"
	}
	if err := startDaemon(ctx, "libvirtd", lv.pidFile); err != nil {
		return err
	}
	lv.pid()
	if !waitFor(20*time.Second, 20*time.Millisecond, func() bool { return libvirtAnswers(ctx) }) {
		return fmt.Errorf("libvirtd does not answer 20 s after its restart")
	}
	return nil
}

// removeDomain destroys and undefines a domain; missing is fine.
func removeDomain(ctx context.Context, name string) {
	_, _ = virsh(ctx, "destroy", name)
	_, _ = virsh(ctx, "undefine", name)
}

// removeLeftovers removes domains and bind mounts of an earlier run that
// could not clean up (a killed test binary).
func (s *suite) removeLeftovers(ctx context.Context) {
	out, _ := virsh(ctx, "list", "--all", "--name")
	for _, n := range strings.Fields(out) {
		if strings.HasPrefix(n, domPrefix) {
			s.logf("removing leftover domain %s", n)
			removeDomain(ctx, n)
		}
	}
	b, _ := os.ReadFile("/proc/mounts")
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && strings.Contains(f[1], "/virtwatt-e2e-") && !strings.HasPrefix(f[1], s.work) {
			s.logf("unmounting leftover %s", f[1])
			_ = syscall.Unmount(f[1], syscall.MNT_DETACH)
		}
	}
}

// guest is one test VM.
type guest struct {
	Name     string
	FS       string // "virtiofs" or "9p"
	Busy     bool
	Port     int    // host loopback port forwarded to the guest's :9100
	ShareDir string // <share-root>/<Name>, written by virtwatt-host
	Source   string // what libvirt exports (set by virtwatt-host attach): ShareDir, or a read-only bind mount of it
	Kernel   string
	Initrd   string
	Console  string
	Job      string // Prometheus job name
	Team     string // metadata labels team and project (none when Team is empty)
	Project  string
}

// Endpoint is the guest agent's metrics URL on the host.
func (g *guest) Endpoint() string { return fmt.Sprintf("http://127.0.0.1:%d/metrics", g.Port) }

var domainXML = template.Must(template.New("domain").Parse(`<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>{{.Name}}</name>{{if .Team}}
  <metadata>
    <vw:labels xmlns:vw='https://virtwatt.dev/xmlns/labels/1'>
      <vw:label name='team'>{{.Team}}</vw:label>
      <vw:label name='project'>{{.Project}}</vw:label>
    </vw:labels>
  </metadata>{{end}}
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>{{.Kernel}}</kernel>
    <initrd>{{.Initrd}}</initrd>
    <cmdline>console=ttyS0 panic=-1 quiet vw.fs={{.FS}} vw.tag=virtwatt vw.busy={{if .Busy}}1{{else}}0{{end}}</cmdline>
  </os>
  <features><acpi/></features>
  <cpu mode='custom' match='exact'><model fallback='allow'>qemu64</model></cpu>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <serial type='file'><source path='{{.Console}}'/><target port='0'/></serial>
    <memballoon model='none'/>
  </devices>
  <qemu:commandline>
    <qemu:arg value='-netdev'/>
    <qemu:arg value='user,id=vwnet0,restrict=on,hostfwd=tcp:127.0.0.1:{{.Port}}-:9100'/>
    <qemu:arg value='-device'/>
    <qemu:arg value='virtio-net-pci,netdev=vwnet0,bus=pcie.0,addr=0x0a'/>
  </qemu:commandline>
</domain>
`))

// define writes the guest's XML and defines it; the domain is removed at
// the end of the test.
func (s *suite) define(ctx context.Context, g *guest) {
	s.t.Helper()
	xmlPath := s.path(g.Name + ".xml")
	f, err := os.Create(xmlPath)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := domainXML.Execute(f, g); err != nil {
		s.t.Fatal(err)
	}
	f.Close()
	s.t.Cleanup(func() { removeDomain(context.Background(), g.Name) })
	if _, err := virsh(ctx, "define", xmlPath); err != nil {
		s.t.Fatalf("define %s: %v", g.Name, err)
	}
}

// inactiveXML is a domain's persistent definition as libvirt formats it.
func inactiveXML(ctx context.Context, name string) (string, error) {
	return virsh(ctx, "dumpxml", "--inactive", "--security-info", name)
}

// hostCmd runs the built virtwatt-host with args and returns its output.
func (e *env) hostCmd(ctx context.Context, args ...string) (string, error) {
	return run(ctx, "", nil, e.hostBin, args...)
}

// attachShares gives each guest its share as an operator does, with
// `virtwatt-host attach` (no hand-written XML): A over virtiofs (from the
// read-only bind mount attach makes under ro_root, with the shared memory
// backing virtiofs needs), B over 9p. It checks that a second attach
// changes nothing and that detach restores the persistent definition
// exactly, then attaches again for the run. Mounts under ro_root are
// removed at the end, after the domains (cleanups run last-in first-out:
// call it after define).
func (e *env) attachShares(ctx context.Context) {
	s := e.s
	s.t.Helper()
	common := []string{"--libvirt-uri", libvirtURI, "--share-root", e.shareRoot, "--ro-root", e.roRoot}
	for _, g := range []*guest{e.a, e.b} {
		before, err := inactiveXML(ctx, g.Name)
		if err != nil {
			s.t.Fatal(err)
		}
		attach := append(append([]string{"attach"}, common...), "--type", g.FS, g.Name)
		detach := append(append([]string{"detach"}, common...), g.Name)
		out, err := e.hostCmd(ctx, attach...)
		if err != nil {
			s.t.Fatalf("virtwatt-host %s: %v", strings.Join(attach, " "), err)
		}
		s.logf("virtwatt-host %s:\n%s", strings.Join(attach, " "), strings.TrimSpace(out))
		attached, _ := inactiveXML(ctx, g.Name)
		if out, err := e.hostCmd(ctx, attach...); err != nil || !strings.Contains(out, "nothing changed") {
			s.t.Fatalf("second attach of %s: %v, output %q (want 'nothing changed')", g.Name, err, out)
		}
		if again, _ := inactiveXML(ctx, g.Name); again != attached {
			s.t.Fatalf("second attach of %s changed its definition", g.Name)
		}
		if out, err := e.hostCmd(ctx, detach...); err != nil {
			s.t.Fatalf("virtwatt-host %s: %v\n%s", strings.Join(detach, " "), err, out)
		}
		if after, _ := inactiveXML(ctx, g.Name); after != before {
			s.t.Fatalf("detach left %s's definition different from before attach:\n--- before\n%s\n--- after detach\n%s", g.Name, before, after)
		}
		if _, err := e.hostCmd(ctx, attach...); err != nil {
			s.t.Fatal(err)
		}
	}
	s.logf("attach twice + detach left both definitions as before; attached again")
	e.a.Source = filepath.Join(e.roRoot, e.a.Name)
	e.b.Source = e.b.ShareDir
	for _, g := range []*guest{e.a, e.b} {
		x, _ := inactiveXML(ctx, g.Name)
		if !strings.Contains(x, "<source dir='"+g.Source+"'/>") || !strings.Contains(x, "<target dir='virtwatt'/>") {
			s.t.Fatalf("%s's definition does not export %s as virtwatt:\n%s", g.Name, g.Source, x)
		}
	}
	if err := os.WriteFile(filepath.Join(e.a.Source, ".probe"), nil, 0o644); err == nil {
		s.t.Fatalf("%s (what %s exports over virtiofs) is writable", e.a.Source, e.a.Name)
	}
}

// unmountUnder lazily unmounts every mount below dir (the read-only views
// attach and virtwatt-host made), for the end of the run.
func unmountUnder(dir string) {
	b, _ := os.ReadFile("/proc/mounts")
	lines := strings.Split(string(b), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		f := strings.Fields(lines[i])
		if len(f) > 1 && strings.HasPrefix(f[1], dir+"/") {
			_ = syscall.Unmount(f[1], syscall.MNT_DETACH)
		}
	}
}

// waitBooted waits for the guest's console to show its agent started.
func (s *suite) waitBooted(g *guest, timeout time.Duration) {
	s.t.Helper()
	ok := waitFor(timeout, 200*time.Millisecond, func() bool {
		b, _ := os.ReadFile(g.Console)
		return strings.Contains(string(b), "VW-AGENT-START")
	})
	b, _ := os.ReadFile(g.Console)
	if !ok || !strings.Contains(string(b), "VW-MOUNT-OK") || !strings.Contains(string(b), "VW-NET-UP") {
		s.t.Fatalf("guest %s did not boot to its agent with the share mounted in %v; console:\n%s", g.Name, timeout, tail(g.Console, 40))
	}
}

// doctor runs `virtwatt-host doctor --json` against the running setup, as
// an operator would after starting the agent and the VMs, and checks that
// it finds both guests' shares attached and read-only and their records
// advancing, the meter, libvirt, the state file and the agent's endpoint.
// (Its overall verdict is not asserted: other domains on this libvirtd are
// not the suite's.)
func (e *env) doctor(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := []string{"doctor", "--json", "--powercap-root", e.tree.Root(), "--meter", "powercap", "--libvirt-uri", libvirtURI,
		"--share-root", e.shareRoot, "--ro-root", e.roRoot, "--state-file", e.s.path("host-state.json"),
		"--listen", strings.TrimSuffix(strings.TrimPrefix(e.hostURL, "http://"), "/metrics")}
	out, _ := e.hostCmd(ctx, args...) // exits 1 when anything, even a foreign domain, is wrong
	var rep struct {
		OK     bool
		Checks []struct{ Name, Status, Detail, Fix string }
	}
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &rep); err != nil {
		t.Fatalf("doctor --json: %v\n%s", err, out)
	}
	status := map[string]string{}
	for _, c := range rep.Checks {
		status[c.Name] = c.Status
		if strings.HasPrefix(c.Name, domPrefix) || !strings.HasPrefix(c.Name, "vw") {
			t.Logf("doctor: %-5s %s: %s", c.Status, c.Name, c.Detail)
		}
	}
	for _, name := range []string{"meter", "libvirt", "share root", "state file", "listen address",
		e.a.Name + " share", e.a.Name + " record", e.b.Name + " share", e.b.Name + " record"} {
		if status[name] != "ok" {
			t.Errorf("doctor check %q: %q, want ok", name, status[name])
		}
	}
}

// definedLater defines a domain while virtwatt-host runs, its virtiofs
// share written by a provisioning tool (not by attach), and never starts
// it: the agent alone must create its share directory and the read-only
// view it exports within a few ticks, so it could start at once, and
// remove the view once the domain is undefined.
func (e *env) definedLater(t *testing.T) {
	ctx := context.Background()
	g := &guest{Name: domPrefix + "c", FS: "virtiofs", Port: freePort(t), Kernel: e.a.Kernel, Initrd: e.a.Initrd,
		Console: filepath.Join(e.s.path("console"), "c.log"), ShareDir: filepath.Join(e.shareRoot, domPrefix+"c")}
	view := filepath.Join(e.roRoot, g.Name)
	var buf strings.Builder
	if err := domainXML.Execute(&buf, g); err != nil {
		t.Fatal(err)
	}
	x, _, err := domxml.Attach(buf.String(), domxml.Spec{Type: domxml.Virtiofs, Source: view, Binary: "/usr/lib/qemu/virtiofsd"})
	if err != nil {
		t.Fatal(err)
	}
	xmlPath := e.s.path(g.Name + ".xml")
	if err := os.WriteFile(xmlPath, []byte(x), 0o644); err != nil {
		t.Fatal(err)
	}
	defer removeDomain(ctx, g.Name)
	if _, err := virsh(ctx, "define", xmlPath); err != nil {
		t.Fatal(err)
	}
	tDef := time.Now()
	viewRO := func() bool {
		ms, err := romount.ProcTable("/proc")()
		mounted, ro := romount.Status(ms, view)
		return err == nil && mounted && ro
	}
	if !waitFor(5*tick, 50*time.Millisecond, func() bool {
		_, err := os.Stat(g.ShareDir)
		return err == nil && viewRO()
	}) {
		t.Fatalf("virtwatt-host made no share directory %s and read-only view %s for a domain defined %v ago:\n%s",
			g.ShareDir, view, time.Since(tDef).Round(time.Millisecond), tail(e.host.log, 20))
	}
	e.s.logf("a virtiofs domain defined while the agent runs got its share directory and read-only view after %v", time.Since(tDef).Round(time.Millisecond))
	if err := os.WriteFile(filepath.Join(view, ".probe"), nil, 0o644); err == nil {
		t.Errorf("the view %s is writable", view)
	}
	removeDomain(ctx, g.Name)
	if !waitFor(5*tick, 50*time.Millisecond, func() bool { _, err := os.Stat(view); return err != nil && !viewRO() }) {
		t.Errorf("the read-only view %s of an undefined domain is still there after %v", view, 5*tick)
	}
}
