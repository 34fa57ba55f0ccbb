//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/template"
	"time"
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
	Source   string // what libvirt exports: ShareDir, or a read-only bind mount of it
	Kernel   string
	Initrd   string
	Console  string
	Job      string // Prometheus job name
}

// Endpoint is the guest agent's metrics URL on the host.
func (g *guest) Endpoint() string { return fmt.Sprintf("http://127.0.0.1:%d/metrics", g.Port) }

var domainXML = template.Must(template.New("domain").Parse(`<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>{{.Name}}</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>
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
{{- if eq .FS "virtiofs"}}
    <filesystem type='mount' accessmode='passthrough'>
      <driver type='virtiofs'/>
      <binary path='/usr/lib/qemu/virtiofsd'><cache mode='none'/></binary>
      <source dir='{{.Source}}'/>
      <target dir='virtwatt'/>
    </filesystem>
{{- else}}
    <filesystem type='mount' accessmode='mapped'>
      <source dir='{{.Source}}'/>
      <target dir='virtwatt'/>
      <readonly/>
    </filesystem>
{{- end}}
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

// exportReadOnly makes g.Source a read-only bind mount of g.ShareDir
// (libvirt 9.0 refuses <readonly/> on virtiofs). It is unmounted at the end
// of the test, after the domains are gone (cleanups run last-in first-out).
func (s *suite) exportReadOnly(g *guest) {
	s.t.Helper()
	g.Source = s.mkdir("ro", g.Name)
	if err := syscall.Mount(g.ShareDir, g.Source, "", syscall.MS_BIND, ""); err != nil {
		s.t.Fatalf("bind mount %s on %s: %v", g.ShareDir, g.Source, err)
	}
	s.t.Cleanup(func() {
		if err := syscall.Unmount(g.Source, 0); err != nil {
			s.t.Errorf("unmount %s: %v", g.Source, err)
			_ = syscall.Unmount(g.Source, syscall.MNT_DETACH)
		}
	})
	if err := syscall.Mount("", g.Source, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		s.t.Fatalf("remount %s read-only: %v", g.Source, err)
	}
	if err := os.WriteFile(filepath.Join(g.Source, ".probe"), nil, 0o644); err == nil {
		s.t.Fatalf("%s is writable after the read-only remount", g.Source)
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
