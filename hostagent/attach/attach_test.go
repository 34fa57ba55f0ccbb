package attach

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"libvirt.org/go/libvirt"

	"github.com/virtwatt/virtwatt/hostagent/domxml"
	"github.com/virtwatt/virtwatt/hostagent/romount"
)

// open connects to a private test-driver node (a fresh copy per test).
func open(t *testing.T) *libvirt.Connect {
	t.Helper()
	abs, err := filepath.Abs("testdata/node.xml")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := libvirt.NewConnect("test://" + abs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func inactiveXML(t *testing.T, conn *libvirt.Connect, name string) string {
	t.Helper()
	d, err := conn.LookupDomainByName(name)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Free()
	x, err := d.GetXMLDesc(xmlFlags)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func opts(t *testing.T, typ domxml.FSType, out *bytes.Buffer) Options {
	dir := t.TempDir()
	m := romount.New(filepath.Join(dir, "vms"), filepath.Join(dir, "ro"), nil)
	t.Cleanup(func() {
		names, _ := m.Mounted()
		for _, n := range names {
			_ = syscall.Unmount(m.Path(n), syscall.MNT_DETACH)
		}
	})
	return Options{ShareRoot: m.ShareRoot, Type: typ, Virtiofsd: "/usr/lib/qemu/virtiofsd", Mounts: m, Out: out}
}

func TestAttachDetachRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		dom    string
		typ    domxml.FSType
		native bool
	}{
		{"vm-off", domxml.NineP, false},
		{"vm-meta", domxml.NineP, false},
		{"vm-off", domxml.Virtiofs, true},
		{"vm-meta", domxml.Virtiofs, false}, // needs root for the bind mount
	} {
		t.Run(tc.dom+"/"+string(tc.typ), func(t *testing.T) {
			if tc.typ == domxml.Virtiofs && !tc.native && os.Geteuid() != 0 {
				t.Skip("the read-only bind mount needs root")
			}
			conn := open(t)
			var out bytes.Buffer
			o := opts(t, tc.typ, &out)
			o.NativeReadOnly = tc.native
			before := inactiveXML(t, conn, tc.dom)

			o.DryRun = true
			if err := Attach(conn, []string{tc.dom}, o); err != nil {
				t.Fatal(err)
			}
			if inactiveXML(t, conn, tc.dom) != before || !strings.Contains(out.String(), "+") {
				t.Fatalf("dry run changed the domain or printed no diff:\n%s", out.String())
			}
			if _, err := os.Stat(filepath.Join(o.ShareRoot, tc.dom)); err == nil {
				t.Fatal("dry run created the share directory")
			}
			o.DryRun = false

			if err := Attach(conn, []string{tc.dom}, o); err != nil {
				t.Fatal(err)
			}
			attached := inactiveXML(t, conn, tc.dom)
			sh, err := domxml.Find(attached)
			if err != nil || sh == nil || sh.Type != tc.typ || !sh.Ours {
				t.Fatalf("after attach: share %+v err %v\n%s", sh, err, attached)
			}
			if tc.typ == domxml.Virtiofs && !strings.Contains(attached, "<access mode='shared'/>") {
				t.Errorf("virtiofs without shared memory:\n%s", attached)
			}
			if fi, err := os.Stat(filepath.Join(o.ShareRoot, tc.dom)); err != nil || !fi.IsDir() {
				t.Errorf("share directory not created: %v", err)
			}
			if tc.typ == domxml.Virtiofs && !tc.native {
				if sh.Source != o.Mounts.Path(tc.dom) {
					t.Errorf("virtiofs source %s, want the read-only view %s", sh.Source, o.Mounts.Path(tc.dom))
				}
				if err := os.WriteFile(filepath.Join(sh.Source, "x"), nil, 0o644); !errors.Is(err, syscall.EROFS) {
					t.Errorf("write into the exported source: %v, want EROFS", err)
				}
			}
			if tc.native && !sh.ReadOnly {
				t.Error("native read-only virtiofs without <readonly/>")
			}

			out.Reset()
			if err := Attach(conn, []string{tc.dom}, o); err != nil {
				t.Fatal(err)
			}
			if inactiveXML(t, conn, tc.dom) != attached || !strings.Contains(out.String(), "nothing changed") {
				t.Errorf("second attach changed the domain or did not say so: %q", out.String())
			}

			out.Reset()
			if err := Detach(conn, []string{tc.dom}, o); err != nil {
				t.Fatal(err)
			}
			if after := inactiveXML(t, conn, tc.dom); after != before {
				t.Errorf("detach did not restore the definition:\n%s", domxml.Diff(before, after, 2))
			}
			if tc.typ == domxml.Virtiofs && !tc.native {
				if names, _ := o.Mounts.Mounted(); len(names) != 0 {
					t.Errorf("mounts left after detach: %v", names)
				}
			}
			out.Reset()
			if err := Detach(conn, []string{tc.dom}, o); err != nil || !strings.Contains(out.String(), "nothing changed") {
				t.Errorf("second detach: %v %q", err, out.String())
			}
		})
	}
}

func TestAttachForeignShareIsAnError(t *testing.T) {
	conn := open(t)
	var out bytes.Buffer
	o := opts(t, domxml.NineP, &out)
	before := inactiveXML(t, conn, "vm-foreign")
	err := Attach(conn, []string{"vm-foreign", "vm-off"}, o)
	if !errors.Is(err, domxml.ErrForeign) || !strings.Contains(err.Error(), "vm-foreign") || !strings.Contains(err.Error(), "/srv/mine") {
		t.Errorf("err %v, want ErrForeign naming the domain and its source", err)
	}
	if inactiveXML(t, conn, "vm-foreign") != before {
		t.Error("the foreign domain was changed")
	}
	if sh, _ := domxml.Find(inactiveXML(t, conn, "vm-off")); sh == nil {
		t.Error("the other domain was not attached after the first one failed")
	}
	if err := Detach(conn, []string{"vm-foreign"}, o); !errors.Is(err, domxml.ErrForeign) {
		t.Errorf("detach of a foreign share: %v", err)
	}
}

func TestAllNamesAndUnknownDomain(t *testing.T) {
	conn := open(t)
	names, err := AllNames(conn)
	if err != nil || len(names) != 3 {
		t.Fatalf("AllNames: %v %v", names, err)
	}
	var out bytes.Buffer
	if err := Attach(conn, []string{"nope"}, opts(t, domxml.NineP, &out)); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("unknown domain: %v", err)
	}
}

func TestPrepare(t *testing.T) {
	var out bytes.Buffer
	o := opts(t, domxml.NineP, &out)
	x, _, err := domxml.Attach("<domain><name>vm9</name><devices>\n</devices></domain>",
		domxml.Spec{Type: domxml.NineP, Source: filepath.Join(o.ShareRoot, "vm9"), ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := Prepare("vm9", strings.NewReader(x), o); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(o.ShareRoot, "vm9")); err != nil {
		t.Errorf("prepare made no share directory: %v", err)
	}
	if err := Prepare("plain", strings.NewReader("<domain><name>plain</name><devices/></domain>"), o); err != nil {
		t.Errorf("prepare of a domain without share: %v", err)
	}
	if _, err := os.Stat(filepath.Join(o.ShareRoot, "plain")); err == nil {
		t.Error("prepare made a share directory for a domain without share")
	}
	if os.Geteuid() == 0 {
		o.Type = domxml.Virtiofs
		x, _, _ := domxml.Attach("<domain><name>vmf</name><devices>\n</devices></domain>",
			domxml.Spec{Type: domxml.Virtiofs, Source: o.Mounts.Path("vmf")})
		if err := Prepare("vmf", strings.NewReader(x), o); err != nil {
			t.Fatal(err)
		}
		ms, _ := o.Mounts.Table()
		if mounted, ro := romount.Status(ms, o.Mounts.Path("vmf")); !mounted || !ro {
			t.Errorf("prepare: mounted %v ro %v", mounted, ro)
		}
	}
}

func TestAttachTransientRefused(t *testing.T) {
	conn := open(t)
	d, err := conn.DomainCreateXML("<domain type='test'><name>vm-tr</name><memory>524288</memory><os><type>hvm</type></os></domain>", 0)
	if err != nil {
		t.Fatal(err)
	}
	d.Free()
	var out bytes.Buffer
	err = Attach(conn, []string{"vm-tr"}, opts(t, domxml.NineP, &out))
	if err == nil || !strings.Contains(err.Error(), "transient") {
		t.Errorf("attach of a transient domain: %v", err)
	}
	if d, err := conn.LookupDomainByName("vm-tr"); err == nil {
		if p, _ := d.IsPersistent(); p {
			t.Error("attach made a transient domain persistent")
		}
		d.Free()
	}
}
