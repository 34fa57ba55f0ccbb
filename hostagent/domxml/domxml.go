// Package domxml edits libvirt domain definitions to give a VM its
// virtwatt share and to take it away again. It is pure text: no libvirt.
//
// Invariants:
//   - Edits are insertions and removals of element text at byte offsets
//     found with encoding/xml's Decoder.InputOffset; every other byte of
//     the document stays as it was.
//   - Attach records what it added in a marker element in <metadata>
//     (namespace MarkerNS): the share, which parts of <memoryBacking>, the
//     <metadata> element itself when there was none, and the controllers
//     libvirt added for the new device (SetControllers). Detach removes
//     exactly those, so Detach(Attach(x)) == x byte for byte.
//   - A <filesystem> with target dir "virtwatt" that carries no marker is
//     someone else's: Attach and Detach refuse to touch it.
package domxml

import (
	"errors"
	"fmt"
	"html"
	"slices"
	"strings"
)

// Target is the mount tag the guest looks for.
const Target = "virtwatt"

// MarkerNS is the namespace of the marker element Attach adds to <metadata>.
const MarkerNS = "https://virtwatt.dev/xmlns/attach/1"

// FSType is the transport of the share.
type FSType string

const (
	NineP    FSType = "9p"
	Virtiofs FSType = "virtiofs"
)

// ParseFSType accepts "9p" and "virtiofs".
func ParseFSType(s string) (FSType, error) {
	switch FSType(s) {
	case NineP, Virtiofs:
		return FSType(s), nil
	}
	return "", fmt.Errorf("share type %q: want 9p or virtiofs", s)
}

// Spec is the share to attach.
type Spec struct {
	Type   FSType
	Source string // host directory libvirt exports
	// Binary is virtiofsd's path (virtiofs only; empty: libvirt's default).
	Binary string
	// ReadOnly adds <readonly/>: always for 9p; for virtiofs only where
	// libvirt supports it (otherwise Source must be a read-only mount).
	ReadOnly bool
}

// Share is the virtwatt share found in a domain definition.
type Share struct {
	Type     FSType
	Source   string
	ReadOnly bool
	Ours     bool // carries attach's marker
}

// ErrForeign is returned when the domain has a virtwatt filesystem that
// attach did not add.
var ErrForeign = errors.New("domain already has a <filesystem> with target dir 'virtwatt' that virtwatt-host attach did not add")

// FilesystemXML is the <filesystem> element for spec (also the device XML
// for a live attach).
func FilesystemXML(spec Spec) string {
	src := html.EscapeString(spec.Source)
	ro := ""
	if spec.ReadOnly {
		ro = "\n  <readonly/>"
	}
	if spec.Type == Virtiofs {
		bin := ""
		if spec.Binary != "" {
			bin = "\n  <binary path='" + html.EscapeString(spec.Binary) + "'><cache mode='none'/></binary>"
		}
		return "<filesystem type='mount' accessmode='passthrough'>\n  <driver type='virtiofs'/>" + bin +
			"\n  <source dir='" + src + "'/>\n  <target dir='" + Target + "'/>" + ro + "\n</filesystem>"
	}
	return "<filesystem type='mount' accessmode='mapped'>\n  <source dir='" + src + "'/>\n  <target dir='" +
		Target + "'/>" + ro + "\n</filesystem>"
}

// doc is a scanned document.
type doc struct {
	text  string
	nodes []node
}

func parse(text string) (*doc, error) {
	n, err := scan(text)
	if err != nil {
		return nil, err
	}
	return &doc{text: text, nodes: n}, nil
}

// share returns the index of the virtwatt <filesystem>, or -1.
func (d *doc) share() (int, error) {
	dev := child(d.nodes, 0, "devices")
	if dev < 0 {
		return -1, nil
	}
	found := -1
	for _, fs := range children(d.nodes, dev, "filesystem") {
		t := child(d.nodes, fs, "target")
		if t >= 0 && d.nodes[t].attr("dir") == Target {
			if found >= 0 {
				return -1, errors.New("domain XML has two <filesystem> elements with target dir 'virtwatt'; remove one")
			}
			found = fs
		}
	}
	return found, nil
}

// marker returns the index of attach's marker element, or -1.
func (d *doc) marker() int {
	md := child(d.nodes, 0, "metadata")
	if md < 0 {
		return -1
	}
	for _, c := range children(d.nodes, md, "") {
		if d.nodes[c].Name.Space == MarkerNS {
			return c
		}
	}
	return -1
}

// Find reports the virtwatt share of a domain definition (nil when none).
func Find(text string) (*Share, error) {
	d, err := parse(text)
	if err != nil {
		return nil, err
	}
	fs, err := d.share()
	if err != nil || fs < 0 {
		return nil, err
	}
	sh := &Share{Type: NineP, Ours: d.marker() >= 0}
	if drv := child(d.nodes, fs, "driver"); drv >= 0 && d.nodes[drv].attr("type") == "virtiofs" {
		sh.Type = Virtiofs
	}
	if src := child(d.nodes, fs, "source"); src >= 0 {
		sh.Source = d.nodes[src].attr("dir")
	}
	sh.ReadOnly = child(d.nodes, fs, "readonly") >= 0
	return sh, nil
}

// marker attributes.
type mark struct {
	Type        FSType
	Memory      []string // "element", or the children added: "source", "access"
	Metadata    bool     // <metadata> was added
	Controllers []string // "type:index" of controllers libvirt added for the share
}

func (m mark) xml() string {
	s := "<vwa:share xmlns:vwa='" + MarkerNS + "' type='" + string(m.Type) + "'"
	if len(m.Memory) > 0 {
		s += " memory='" + strings.Join(m.Memory, ",") + "'"
	}
	if m.Metadata {
		s += " metadata='added'"
	}
	if len(m.Controllers) > 0 {
		s += " controllers='" + strings.Join(m.Controllers, ",") + "'"
	}
	return s + "/>"
}

func (d *doc) readMark(i int) mark {
	n := &d.nodes[i]
	m := mark{Type: FSType(n.attr("type")), Metadata: n.attr("metadata") == "added"}
	if v := n.attr("memory"); v != "" {
		m.Memory = strings.Split(v, ",")
	}
	if v := n.attr("controllers"); v != "" {
		m.Controllers = strings.Split(v, ",")
	}
	return m
}

// Attach adds spec's share (and for virtiofs the shared memory backing it
// needs) to a domain definition. changed is false when the share is
// already there as attach added it. A share that differs from spec, or one
// attach did not add, is an error that says what to do.
func Attach(text string, spec Spec) (out string, changed bool, err error) {
	d, err := parse(text)
	if err != nil {
		return "", false, err
	}
	fs, err := d.share()
	if err != nil {
		return "", false, err
	}
	if fs >= 0 {
		sh, _ := Find(text)
		if d.marker() < 0 {
			return "", false, fmt.Errorf("%w (source %q): remove it by hand, or keep it and skip attach", ErrForeign, sh.Source)
		}
		if sh.Type != spec.Type || sh.Source != spec.Source {
			return "", false, fmt.Errorf("the share is already attached as %s from %s (asked: %s from %s): run detach first",
				sh.Type, sh.Source, spec.Type, spec.Source)
		}
		return text, false, nil
	}
	if d.marker() >= 0 {
		return "", false, errors.New("domain XML has virtwatt's attach marker in <metadata> but no share: remove the <vwa:share> element from <metadata>, then attach again")
	}
	if child(d.nodes, 0, "devices") < 0 {
		return "", false, errors.New("domain XML has no <devices> element")
	}
	m := mark{Type: spec.Type}
	if spec.Type == Virtiofs {
		if text, m.Memory, err = addSharedMemory(text); err != nil {
			return "", false, err
		}
	}
	if text, m.Metadata, err = addMarker(text, m); err != nil {
		return "", false, err
	}
	if d, err = parse(text); err != nil {
		return "", false, err
	}
	dev := child(d.nodes, 0, "devices")
	in := childIndent(d.text, d.nodes, dev)
	text, err = insertBeforeClose(d.text, &d.nodes[dev], in, indentLines(FilesystemXML(spec), in))
	return text, true, err
}

// addSharedMemory makes the domain's memory shared (virtiofs needs it):
// adds <memoryBacking> or the children it lacks.
func addSharedMemory(text string) (string, []string, error) {
	d, err := parse(text)
	if err != nil {
		return "", nil, err
	}
	mb := child(d.nodes, 0, "memoryBacking")
	if mb < 0 {
		after := child(d.nodes, 0, "currentMemory")
		if after < 0 {
			after = child(d.nodes, 0, "memory")
		}
		in := childIndent(d.text, d.nodes, 0) + "  "
		el := "<memoryBacking>\n" + in + "<source type='memfd'/>\n" + in + "<access mode='shared'/>\n" +
			childIndent(d.text, d.nodes, 0) + "</memoryBacking>"
		if after < 0 {
			out, err := insertBeforeClose(d.text, &d.nodes[0], childIndent(d.text, d.nodes, 0), el)
			return out, []string{"element"}, err
		}
		return insertAfter(d.text, &d.nodes[after], el), []string{"element"}, nil
	}
	if d.nodes[mb].SelfClose {
		return "", nil, errors.New("domain XML has an empty <memoryBacking/>: replace it with <memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking> or remove it")
	}
	var add []string
	if acc := child(d.nodes, mb, "access"); acc >= 0 {
		if mode := d.nodes[acc].attr("mode"); mode != "shared" {
			return "", nil, fmt.Errorf("domain memory has <access mode='%s'/>; virtiofs needs mode='shared': change it, or attach with --type 9p", mode)
		}
	} else {
		add = append(add, "access")
	}
	if child(d.nodes, mb, "source") < 0 && child(d.nodes, mb, "hugepages") < 0 {
		add = append([]string{"source"}, add...)
	}
	in := childIndent(d.text, d.nodes, mb)
	for _, what := range add {
		el := "<access mode='shared'/>"
		if what == "source" {
			el = "<source type='memfd'/>"
		}
		if d, err = parse(text); err != nil {
			return "", nil, err
		}
		if text, err = insertBeforeClose(d.text, &d.nodes[child(d.nodes, 0, "memoryBacking")], in, el); err != nil {
			return "", nil, err
		}
	}
	return text, add, nil
}

// addMarker adds the marker to <metadata>, adding <metadata> (after <uuid>
// or <name>) when there is none.
func addMarker(text string, m mark) (string, bool, error) {
	d, err := parse(text)
	if err != nil {
		return "", false, err
	}
	if md := child(d.nodes, 0, "metadata"); md >= 0 {
		out, err := insertBeforeClose(d.text, &d.nodes[md], childIndent(d.text, d.nodes, md), m.xml())
		return out, false, err
	}
	m.Metadata = true
	in := childIndent(d.text, d.nodes, 0)
	el := "<metadata>\n" + in + "  " + m.xml() + "\n" + in + "</metadata>"
	after := child(d.nodes, 0, "uuid")
	if after < 0 {
		after = child(d.nodes, 0, "name")
	}
	if after < 0 {
		return "", false, errors.New("domain XML has no <name>")
	}
	return insertAfter(d.text, &d.nodes[after], el), true, nil
}

// Controllers lists the controllers of a definition as "type:index".
func Controllers(text string) ([]string, error) {
	d, err := parse(text)
	if err != nil {
		return nil, err
	}
	dev := child(d.nodes, 0, "devices")
	if dev < 0 {
		return nil, nil
	}
	var out []string
	for _, c := range children(d.nodes, dev, "controller") {
		out = append(out, d.nodes[c].attr("type")+":"+d.nodes[c].attr("index"))
	}
	return out, nil
}

// SetControllers records in the marker the controllers libvirt added when
// the share was defined (those in after but not in before), so that Detach
// removes them too.
func SetControllers(text string, before, after []string) (string, error) {
	var added []string
	for _, c := range after {
		if !slices.Contains(before, c) {
			added = append(added, c)
		}
	}
	d, err := parse(text)
	if err != nil {
		return "", err
	}
	i := d.marker()
	if i < 0 {
		return "", errors.New("domain XML has no virtwatt attach marker")
	}
	m := d.readMark(i)
	if slices.Equal(m.Controllers, added) {
		return text, nil
	}
	m.Controllers = added
	n := &d.nodes[i]
	return d.text[:n.Start] + m.xml() + d.text[n.End:], nil
}

// Detach removes what Attach added. changed is false when the domain has
// no share; a share attach did not add is ErrForeign.
func Detach(text string) (out string, removed *Share, err error) {
	sh, err := Find(text)
	if err != nil || sh == nil {
		return text, nil, err
	}
	if !sh.Ours {
		return "", nil, fmt.Errorf("%w (source %q): detach removes only what attach added; remove it by hand", ErrForeign, sh.Source)
	}
	d, _ := parse(text)
	m := d.readMark(d.marker())
	steps := []func(*doc) (int, error){
		func(d *doc) (int, error) { return d.share() },
	}
	for _, c := range m.Controllers {
		steps = append(steps, func(d *doc) (int, error) { return d.controller(c), nil })
	}
	for _, what := range m.Memory {
		steps = append(steps, func(d *doc) (int, error) {
			mb := child(d.nodes, 0, "memoryBacking")
			if mb < 0 || what == "element" {
				return mb, nil
			}
			return child(d.nodes, mb, what), nil
		})
	}
	steps = append(steps, func(d *doc) (int, error) { return d.marker(), nil })
	if m.Metadata {
		steps = append(steps, func(d *doc) (int, error) {
			md := child(d.nodes, 0, "metadata")
			if md >= 0 && len(children(d.nodes, md, "")) > 0 {
				return -1, nil // someone added metadata since: keep it
			}
			return md, nil
		})
	}
	for _, step := range steps {
		d, err := parse(text)
		if err != nil {
			return "", nil, err
		}
		i, err := step(d)
		if err != nil {
			return "", nil, err
		}
		if i >= 0 {
			text = removeElement(d.text, &d.nodes[i])
		}
	}
	return text, sh, nil
}

// controller finds the controller "type:index".
func (d *doc) controller(key string) int {
	dev := child(d.nodes, 0, "devices")
	if dev < 0 {
		return -1
	}
	for _, c := range children(d.nodes, dev, "controller") {
		if d.nodes[c].attr("type")+":"+d.nodes[c].attr("index") == key {
			return c
		}
	}
	return -1
}
