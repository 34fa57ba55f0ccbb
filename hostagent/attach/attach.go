// Package attach gives libvirt domains their virtwatt share and takes it
// away again, through the libvirt API (no virsh): it edits the persistent
// definition (GetXMLDesc(INACTIVE|SECURE), package domxml, DomainDefineXML),
// creates the share directory and, for virtiofs, the read-only bind mount
// (package romount) the share is exported from, and hot-plugs where libvirt
// and QEMU allow it.
//
// Invariants: a domain whose definition needs no change is not redefined;
// Detach removes exactly what Attach added (domxml's marker records it, and
// the controllers libvirt added for the share at define time); nothing is
// changed with DryRun.
package attach

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"libvirt.org/go/libvirt"

	"github.com/virtwatt/virtwatt/hostagent/domxml"
	"github.com/virtwatt/virtwatt/hostagent/romount"
	"github.com/virtwatt/virtwatt/share"
)

// NativeReadOnlyVersion is the first libvirt (major*1e6+minor*1e3+micro)
// that accepts <readonly/> on a virtiofs filesystem (passed to virtiofsd
// as --readonly); older ones refuse it ("not yet supported").
const NativeReadOnlyVersion = 11_000_000

// VirtiofsdPaths are where distributions put virtiofsd, tried in order.
var VirtiofsdPaths = []string{"/usr/libexec/virtiofsd", "/usr/lib/qemu/virtiofsd", "/usr/bin/virtiofsd"}

// Options configure Attach, Detach and Prepare.
type Options struct {
	ShareRoot string
	Type      domxml.FSType
	Virtiofsd string // virtiofsd's path; "" finds it in VirtiofsdPaths
	Live      bool   // also change the running VM where possible
	DryRun    bool   // print the diff, change nothing
	// NativeReadOnly exports virtiofs with <readonly/> from the share
	// directory instead of a read-only bind mount (see NativeReadOnlyVersion).
	NativeReadOnly bool
	Mounts         *romount.Manager
	Out            io.Writer
}

func (o *Options) printf(format string, a ...any) { fmt.Fprintf(o.Out, format, a...) }

// spec is the share a domain gets.
func (o *Options) spec(name string) (domxml.Spec, error) {
	switch o.Type {
	case domxml.NineP:
		return domxml.Spec{Type: domxml.NineP, Source: filepath.Join(o.ShareRoot, name), ReadOnly: true}, nil
	case domxml.Virtiofs:
		bin, err := o.virtiofsd()
		if err != nil {
			return domxml.Spec{}, err
		}
		if o.NativeReadOnly {
			return domxml.Spec{Type: domxml.Virtiofs, Source: filepath.Join(o.ShareRoot, name), Binary: bin, ReadOnly: true}, nil
		}
		return domxml.Spec{Type: domxml.Virtiofs, Source: o.Mounts.Path(name), Binary: bin}, nil
	}
	return domxml.Spec{}, fmt.Errorf("share type %q: want 9p or virtiofs", o.Type)
}

func (o *Options) virtiofsd() (string, error) {
	if o.Virtiofsd != "" {
		return o.Virtiofsd, nil
	}
	for _, p := range VirtiofsdPaths {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", fmt.Errorf("no virtiofsd in %s: install it (Debian 12: qemu-system-common; later: apt install virtiofsd), pass --virtiofsd PATH, or use --type 9p",
		strings.Join(VirtiofsdPaths, ", "))
}

// NativeReadOnly reports whether conn's libvirt takes <readonly/> on virtiofs.
func NativeReadOnly(conn *libvirt.Connect) bool {
	v, err := conn.GetLibVersion()
	return err == nil && v >= NativeReadOnlyVersion
}

// AllNames lists every defined domain (running or not).
func AllNames(conn *libvirt.Connect) ([]string, error) {
	doms, err := conn.ListAllDomains(0)
	if err != nil {
		return nil, fmt.Errorf("list domains: %w", err)
	}
	var out []string
	for _, d := range doms {
		if n, err := d.GetName(); err == nil {
			out = append(out, n)
		}
		d.Free()
	}
	return out, nil
}

const xmlFlags = libvirt.DOMAIN_XML_INACTIVE | libvirt.DOMAIN_XML_SECURE

// Attach gives each named domain its share. It goes on after a domain
// fails and returns every failure.
func Attach(conn *libvirt.Connect, names []string, o Options) error {
	return each(conn, names, &o, attachOne)
}

// each runs f for every name, going on after failures.
func each(conn *libvirt.Connect, names []string, o *Options, f func(*libvirt.Connect, string, *Options) error) error {
	var errs []error
	for _, n := range names {
		if err := f(conn, n, o); err != nil {
			errs = append(errs, fmt.Errorf("domain %s: %w", n, err))
		}
	}
	return errors.Join(errs...)
}

func attachOne(conn *libvirt.Connect, name string, o *Options) error {
	if err := share.ValidName(name); err != nil {
		return err
	}
	spec, err := o.spec(name)
	if err != nil {
		return err
	}
	dom, err := conn.LookupDomainByName(name)
	if err != nil {
		return fmt.Errorf("look up: %w", err)
	}
	defer dom.Free()
	if persistent, err := dom.IsPersistent(); err == nil && !persistent {
		return errors.New("transient domain (no persistent definition to edit): add the share to the XML it is created from")
	}
	before, err := dom.GetXMLDesc(xmlFlags)
	if err != nil {
		return fmt.Errorf("read the persistent definition: %w", err)
	}
	edited, changed, err := domxml.Attach(before, spec)
	if err != nil {
		return err
	}
	if o.DryRun {
		if !changed {
			o.printf("%s: share already attached (%s from %s); nothing would change\n", name, spec.Type, spec.Source)
			return nil
		}
		o.printf("--- %s (persistent definition)\n+++ %s with the virtwatt share\n%s", name, name, domxml.Diff(before, edited, 2))
		o.printf("%s: would create %s%s\n", name, filepath.Join(o.ShareRoot, name), o.mountNote(spec, name))
		return nil
	}
	if err := o.prepareDirs(name, spec); err != nil {
		return err
	}
	if !changed {
		o.printf("%s: share already attached (%s from %s); nothing changed\n", name, spec.Type, spec.Source)
		return nil
	}
	if err := define(conn, edited); err != nil {
		return err
	}
	// libvirt may add controllers (a PCIe root port) for the new device:
	// record them so that detach removes them too.
	defined, err := dom.GetXMLDesc(xmlFlags)
	if err != nil {
		return fmt.Errorf("read the definition back: %w", err)
	}
	ctlBefore, err1 := domxml.Controllers(before)
	ctlAfter, err2 := domxml.Controllers(defined)
	marked, err3 := domxml.SetControllers(defined, ctlBefore, ctlAfter)
	if err := errors.Join(err1, err2, err3); err != nil {
		return err
	}
	if marked != defined {
		if err := define(conn, marked); err != nil {
			return err
		}
	}
	o.printf("%s: attached the %s share (source %s, target %s) to the persistent definition\n", name, spec.Type, spec.Source, domxml.Target)
	return o.attachLive(dom, name, spec)
}

func (o *Options) mountNote(spec domxml.Spec, name string) string {
	if spec.Type == domxml.Virtiofs && !spec.ReadOnly {
		return " and its read-only bind mount " + o.Mounts.Path(name)
	}
	return ""
}

// prepareDirs creates the share directory and, for a virtiofs share from
// ro_root, its read-only bind mount.
func (o *Options) prepareDirs(name string, spec domxml.Spec) error {
	w, err := share.NewWriter(o.ShareRoot)
	if err != nil {
		return fmt.Errorf("share root %s: %w", o.ShareRoot, err)
	}
	defer w.Close()
	if err := w.EnsureDir(name); err != nil {
		return fmt.Errorf("share directory: %w", err)
	}
	if spec.Type == domxml.Virtiofs && spec.Source == o.Mounts.Path(name) {
		return o.Mounts.Ensure(name)
	}
	return nil
}

func define(conn *libvirt.Connect, x string) error {
	d, err := conn.DomainDefineXML(x)
	if err != nil {
		return fmt.Errorf("define the edited definition: %w", err)
	}
	d.Free()
	return nil
}

// attachLive tells what happens to a running domain, hot-plugging when
// asked and possible.
func (o *Options) attachLive(dom *libvirt.Domain, name string, spec domxml.Spec) error {
	active, err := dom.IsActive()
	if err != nil || !active {
		return nil
	}
	restart := fmt.Sprintf("restart %s for it (shut it down and start it; a reboot inside the guest keeps the running definition)", name)
	if !o.Live {
		o.printf("%s: running; the share appears at its next start: %s, or attach with --live (virtiofs only)\n", name, restart)
		return nil
	}
	live, err := dom.GetXMLDesc(0)
	if err != nil {
		return fmt.Errorf("read the live definition: %w", err)
	}
	if sh, _ := domxml.Find(live); sh != nil {
		o.printf("%s: the running VM already has the share\n", name)
		return nil
	}
	if spec.Type != domxml.Virtiofs {
		o.printf("%s: QEMU cannot hot-plug a 9p share: %s\n", name, restart)
		return nil
	}
	if !sharedMemory(live) {
		o.printf("%s: the running VM's memory is not shared, which virtiofs needs: %s\n", name, restart)
		return nil
	}
	if err := dom.AttachDeviceFlags(domxml.FilesystemXML(spec), libvirt.DOMAIN_DEVICE_MODIFY_LIVE); err != nil {
		o.printf("%s: libvirt could not hot-plug the share (%v): %s\n", name, err, restart)
		return nil
	}
	o.printf("%s: hot-plugged the share into the running VM (in the guest: mount -t virtiofs -o ro %s /mnt/virtwatt)\n", name, domxml.Target)
	return nil
}

// sharedMemory reports whether a definition's memory is shared.
func sharedMemory(x string) bool {
	i := strings.Index(x, "<memoryBacking>")
	j := strings.Index(x, "</memoryBacking>")
	return i >= 0 && j > i && strings.Contains(x[i:j], "<access mode='shared'/>")
}

// Detach removes what Attach added from each named domain.
func Detach(conn *libvirt.Connect, names []string, o Options) error {
	return each(conn, names, &o, detachOne)
}

func detachOne(conn *libvirt.Connect, name string, o *Options) error {
	dom, err := conn.LookupDomainByName(name)
	if err != nil {
		return fmt.Errorf("look up: %w", err)
	}
	defer dom.Free()
	before, err := dom.GetXMLDesc(xmlFlags)
	if err != nil {
		return fmt.Errorf("read the persistent definition: %w", err)
	}
	edited, removed, err := domxml.Detach(before)
	if err != nil {
		return err
	}
	if removed == nil {
		o.printf("%s: no virtwatt share in the persistent definition; nothing changed\n", name)
		return nil
	}
	if o.DryRun {
		o.printf("--- %s (persistent definition)\n+++ %s without the virtwatt share\n%s", name, name, domxml.Diff(before, edited, 2))
		return nil
	}
	if err := define(conn, edited); err != nil {
		return err
	}
	o.printf("%s: removed the %s share and what attach added with it from the persistent definition\n", name, removed.Type)
	stillLive := false
	if active, err := dom.IsActive(); err == nil && active {
		live, _ := dom.GetXMLDesc(0)
		if sh, _ := domxml.Find(live); sh != nil {
			stillLive = true
			if o.Live && sh.Type == domxml.Virtiofs {
				spec := domxml.Spec{Type: sh.Type, Source: sh.Source, ReadOnly: sh.ReadOnly}
				if err := dom.DetachDeviceFlags(domxml.FilesystemXML(spec), libvirt.DOMAIN_DEVICE_MODIFY_LIVE); err != nil {
					o.printf("%s: libvirt could not unplug the share from the running VM (%v); it goes at the next stop\n", name, err)
				} else {
					stillLive = false
					o.printf("%s: unplugged the share from the running VM\n", name)
				}
			} else {
				o.printf("%s: the running VM keeps the share until it stops\n", name)
			}
		}
	}
	if removed.Type == domxml.Virtiofs && removed.Source == o.Mounts.Path(name) && !stillLive {
		if err := o.Mounts.Remove(name); err != nil {
			return err
		}
		o.printf("%s: unmounted %s\n", name, removed.Source)
	}
	o.printf("%s: the share directory %s stays (virtwatt-host prunes it prune_after after the domain is gone)\n", name, filepath.Join(o.ShareRoot, name))
	return nil
}

// Prepare readies what a domain's definition (read from r, as libvirt's
// qemu hook passes it on stdin) needs before it starts: the share
// directory and, for virtiofs from ro_root, the read-only bind mount. It
// never calls libvirt (a hook must not). A domain without a virtwatt
// share needs nothing.
func Prepare(name string, r io.Reader, o Options) error {
	b, err := io.ReadAll(io.LimitReader(r, 16<<20))
	if err != nil {
		return fmt.Errorf("read the domain definition: %w", err)
	}
	sh, err := domxml.Find(string(b))
	if err != nil || sh == nil {
		return err
	}
	if err := share.ValidName(name); err != nil {
		return err
	}
	switch {
	case sh.Type == domxml.Virtiofs && sh.Source == o.Mounts.Path(name):
		return o.prepareDirs(name, domxml.Spec{Type: sh.Type, Source: sh.Source})
	case sh.Source == filepath.Join(o.ShareRoot, name):
		return o.prepareDirs(name, domxml.Spec{Type: sh.Type, Source: sh.Source})
	}
	if _, err := os.Stat(sh.Source); err != nil {
		return fmt.Errorf("the virtwatt share's source %s: %w (it is neither under share_root %s nor ro_root %s)", sh.Source, err, o.ShareRoot, o.Mounts.RORoot)
	}
	return nil
}
