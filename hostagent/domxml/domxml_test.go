package domxml

import (
	"errors"
	"strings"
	"testing"
)

// plain is shaped like libvirt's own output of an inactive definition.
const plain = `<domain type='qemu'>
  <name>vm1</name>
  <uuid>0b5c6f7e-1111-2222-3333-444455556666</uuid>
  <memory unit='KiB'>262144</memory>
  <currentMemory unit='KiB'>262144</currentMemory>
  <vcpu placement='static'>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>
    <cmdline>console=ttyS0 a&amp;b</cmdline>
  </os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <controller type='pci' index='0' model='pcie-root'/>
    <!-- a comment, kept -->
    <serial type='file'>
      <source path='/tmp/c.log'/>
      <target type='isa-serial' port='0'/>
    </serial>
  </devices>
  <qemu:commandline xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
    <qemu:arg value='-netdev'/>
  </qemu:commandline>
</domain>
`

// withMeta has metadata and a memoryBacking with hugepages already.
const withMeta = `<domain type='kvm'>
  <name>vm2</name>
  <uuid>0b5c6f7e-1111-2222-3333-444455556667</uuid>
  <metadata>
    <vw:labels xmlns:vw="https://virtwatt.dev/xmlns/labels/1">
      <vw:label name="team">infra</vw:label>
    </vw:labels>
  </metadata>
  <memory unit='KiB'>262144</memory>
  <memoryBacking>
    <hugepages/>
  </memoryBacking>
  <devices>
    <filesystem type='mount' accessmode='passthrough'>
      <source dir='/srv/data'/>
      <target dir='data'/>
    </filesystem>
  </devices>
</domain>`

func virtiofsSpec() Spec {
	return Spec{Type: Virtiofs, Source: "/run/virtwatt/ro/vm1", Binary: "/usr/lib/qemu/virtiofsd"}
}

func TestAttachIdempotentAndDetachRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  string
		spec Spec
	}{
		{"9p", plain, Spec{Type: NineP, Source: "/var/lib/virtwatt/vms/vm1", ReadOnly: true}},
		{"virtiofs", plain, virtiofsSpec()},
		{"virtiofs with metadata and hugepages", withMeta, virtiofsSpec()},
		{"9p with metadata", withMeta, Spec{Type: NineP, Source: "/x", ReadOnly: true}},
		{"one line", strings.ReplaceAll(strings.ReplaceAll(plain, "\n", ""), "  ", ""), virtiofsSpec()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, changed, err := Attach(tc.doc, tc.spec)
			if err != nil || !changed {
				t.Fatalf("Attach: changed %v, err %v", changed, err)
			}
			sh, err := Find(out)
			if err != nil || sh == nil {
				t.Fatalf("Find after attach: %v %v\n%s", sh, err, out)
			}
			if sh.Type != tc.spec.Type || sh.Source != tc.spec.Source || sh.ReadOnly != tc.spec.ReadOnly || !sh.Ours {
				t.Errorf("found %+v, want the spec %+v and ours", sh, tc.spec)
			}
			again, changed, err := Attach(out, tc.spec)
			if err != nil || changed || again != out {
				t.Errorf("second Attach: changed %v, err %v, same text %v", changed, err, again == out)
			}
			back, removed, err := Detach(out)
			if err != nil || removed == nil {
				t.Fatalf("Detach: %v %v", removed, err)
			}
			if back != tc.doc {
				t.Errorf("Detach(Attach(x)) != x; diff:\n%s", Diff(tc.doc, back, 2))
			}
			if _, removed, err := Detach(back); err != nil || removed != nil {
				t.Errorf("Detach of a domain without share: %v %v", removed, err)
			}
		})
	}
}

func TestAttachKeepsEverythingElse(t *testing.T) {
	out, _, err := Attach(plain, virtiofsSpec())
	if err != nil {
		t.Fatal(err)
	}
	// Every original line is still there, in order, unchanged.
	rest := out
	for _, l := range strings.Split(plain, "\n") {
		i := strings.Index(rest, l)
		if i < 0 {
			t.Fatalf("line %q lost or moved:\n%s", l, out)
		}
		rest = rest[i+len(l):]
	}
	for _, want := range []string{
		"    <filesystem type='mount' accessmode='passthrough'>\n      <driver type='virtiofs'/>\n      <binary path='/usr/lib/qemu/virtiofsd'><cache mode='none'/></binary>\n      <source dir='/run/virtwatt/ro/vm1'/>\n      <target dir='virtwatt'/>\n    </filesystem>\n  </devices>",
		"<currentMemory unit='KiB'>262144</currentMemory>\n  <memoryBacking>\n    <source type='memfd'/>\n    <access mode='shared'/>\n  </memoryBacking>\n",
		"<uuid>0b5c6f7e-1111-2222-3333-444455556666</uuid>\n  <metadata>\n    <vwa:share xmlns:vwa='" + MarkerNS + "' type='virtiofs' memory='element' metadata='added'/>\n  </metadata>\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("attached XML lacks\n%s\n---- got:\n%s", want, out)
		}
	}
	if strings.Contains(out, "<readonly/>") {
		t.Error("virtiofs got <readonly/> without ReadOnly (libvirt 9 refuses it)")
	}
}

func TestVirtiofsMemoryBacking(t *testing.T) {
	for _, tc := range []struct {
		name, mb string
		want     []string // children after attach
		mark     string
		err      string
	}{
		{"hugepages kept, access added", "<hugepages/>", []string{"<hugepages/>", "<access mode='shared'/>"}, "memory='access'", ""},
		{"file source kept", "<source type='file'/>", []string{"<source type='file'/>", "<access mode='shared'/>"}, "memory='access'", ""},
		{"already shared", "<source type='memfd'/><access mode='shared'/>", []string{"<source type='memfd'/><access mode='shared'/>"}, "type='virtiofs'/>", ""},
		{"only nosharepages", "<nosharepages/>", []string{"<nosharepages/>", "<source type='memfd'/>", "<access mode='shared'/>"}, "memory='source,access'", ""},
		{"private refused", "<access mode='private'/>", nil, "", "mode='shared'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := strings.Replace(plain, "  <vcpu", "  <memoryBacking>\n    "+tc.mb+"\n  </memoryBacking>\n  <vcpu", 1)
			out, _, err := Attach(in, virtiofsSpec())
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Count(out, "<memoryBacking>") != 1 {
				t.Errorf("want exactly one <memoryBacking>:\n%s", out)
			}
			mb := out[strings.Index(out, "<memoryBacking>"):strings.Index(out, "</memoryBacking>")]
			for _, w := range tc.want {
				if !strings.Contains(mb, w) {
					t.Errorf("memoryBacking lacks %s:\n%s", w, mb)
				}
			}
			if !strings.Contains(out, tc.mark) {
				t.Errorf("marker lacks %s:\n%s", tc.mark, out)
			}
			back, _, err := Detach(out)
			if err != nil || back != in {
				t.Errorf("round trip: %v\n%s", err, Diff(in, back, 2))
			}
		})
	}
}

func TestForeignShareRefused(t *testing.T) {
	foreign := strings.Replace(plain, "  </devices>", "    <filesystem type='mount' accessmode='mapped'>\n      <source dir='/mine'/>\n      <target dir='virtwatt'/>\n    </filesystem>\n  </devices>", 1)
	if _, _, err := Attach(foreign, virtiofsSpec()); !errors.Is(err, ErrForeign) || !strings.Contains(err.Error(), "/mine") {
		t.Errorf("Attach over a foreign share: %v, want ErrForeign naming its source", err)
	}
	if _, _, err := Detach(foreign); !errors.Is(err, ErrForeign) {
		t.Errorf("Detach of a foreign share: %v, want ErrForeign", err)
	}
	sh, err := Find(foreign)
	if err != nil || sh == nil || sh.Ours || sh.Type != NineP || sh.Source != "/mine" {
		t.Errorf("Find: %+v %v", sh, err)
	}
}

func TestAttachOtherTypeRefused(t *testing.T) {
	out, _, err := Attach(plain, Spec{Type: NineP, Source: "/a", ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Attach(out, virtiofsSpec()); err == nil || !strings.Contains(err.Error(), "detach first") {
		t.Errorf("attach virtiofs over our 9p: %v, want 'run detach first'", err)
	}
}

func TestControllersRecordedAndRemoved(t *testing.T) {
	out, _, err := Attach(plain, Spec{Type: NineP, Source: "/a", ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	before, _ := Controllers(plain)
	// What libvirt does at define: a root port for the new device.
	defined := strings.Replace(out, "<controller type='pci' index='0' model='pcie-root'/>",
		"<controller type='pci' index='0' model='pcie-root'/>\n    <controller type='pci' index='1' model='pcie-root-port'>\n      <target chassis='1' port='0x10'/>\n    </controller>", 1)
	after, _ := Controllers(defined)
	marked, err := SetControllers(defined, before, after)
	if err != nil || !strings.Contains(marked, "controllers='pci:1'") {
		t.Fatalf("SetControllers: %v\n%s", err, marked)
	}
	back, _, err := Detach(marked)
	if err != nil || back != plain {
		t.Errorf("detach with a recorded controller: %v\n%s", err, Diff(plain, back, 2))
	}
}

func TestBadXML(t *testing.T) {
	for _, in := range []string{"", "<domain>", "<node/>", "<domain><devices></domain>"} {
		if _, _, err := Attach(in, virtiofsSpec()); err == nil {
			t.Errorf("Attach(%q): no error", in)
		}
	}
}

func TestDiff(t *testing.T) {
	out, _, _ := Attach(plain, Spec{Type: NineP, Source: "/a", ReadOnly: true})
	d := Diff(plain, out, 1)
	if !strings.Contains(d, "+    <filesystem type='mount' accessmode='mapped'>") || !strings.Contains(d, "+      <readonly/>") ||
		!strings.Contains(d, "@@") || strings.Contains(d, "-") && strings.Contains(d, "\n-") {
		t.Errorf("diff:\n%s", d)
	}
	if Diff(plain, plain, 3) != "" {
		t.Error("diff of equal texts is not empty")
	}
}
