package meter

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/virtwatt/virtwatt/internal/regfile"
)

// Powercap reads RAPL counters from the powercap sysfs tree
// (/sys/class/powercap on a real host).
//
// Zones are discovered once, by NewPowercap:
//
//	intel-rapl:N      name "package-K"  → KindPackage, socket K
//	intel-rapl:N      name "package-K-die-D" → KindPackage, socket N (one per die)
//	intel-rapl:N      name "psys"       → KindPsys, socket 0
//	intel-rapl:N:M    name "core", "uncore", "dram" → that kind, socket of intel-rapl:N
//
// AMD processors (family 17h and later) are served by the same intel_rapl
// driver and expose the same intel-rapl:* tree (package and core zones, no
// dram). Other directories (the "intel-rapl" control type itself,
// "intel-rapl-mmio:N", which duplicates the package counter on client parts,
// other powercap drivers) are ignored.
//
// Read re-reads only the energy_uj files, so it is cheap enough for every
// tick. A Powercap is not safe for concurrent use.
type Powercap struct {
	root  string
	zones []powercapZone
	open  func(name string) (*os.File, error)
}

type powercapZone struct {
	kind       string
	socket     int
	energyPath string
	maxRangeUJ uint64
	ceilingUW  uint64 // from the zone's constraints; 0: the default
}

// zonePrefix is the directory prefix of RAPL zones, on Intel and AMD alike.
const zonePrefix = "intel-rapl:"

// NewPowercap discovers the RAPL zones under root and reads every counter
// once, so that a missing driver or unreadable counters fail here rather than
// on the first tick.
func NewPowercap(root string) (*Powercap, error) {
	return newPowercap(root, powercapOpen)
}

// powercapOpen opens sysfs files, never blocking on a FIFO or device planted
// under the root (regfile.Open); a variable so that tests can simulate
// EACCES while running as root.
var powercapOpen = func(name string) (*os.File, error) { return regfile.Open(name, 0) }

// newPowercap is NewPowercap with an injectable open function; tests use it
// to simulate EACCES even when they run as root.
func newPowercap(root string, open func(string) (*os.File, error)) (*Powercap, error) {
	p := &Powercap{root: root, open: open}
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("powercap: %w; is the RAPL powercap driver loaded? "+
			"try `modprobe intel_rapl_common intel_rapl_msr`, or use --meter msr", err)
	}

	// First pass: top-level zones, so that sub-zones can take their
	// parent's socket.
	parentSocket := map[int]int{}
	type sub struct {
		dir    string
		parent int
	}
	var subs []sub
	for _, e := range entries {
		parent, child, ok := parseZoneDir(e.Name())
		if !ok {
			continue
		}
		dir := filepath.Join(root, e.Name())
		if child >= 0 {
			subs = append(subs, sub{dir: dir, parent: parent})
			continue
		}
		name, err := p.readName(dir)
		if err != nil {
			return nil, err
		}
		kind, socket := topLevelKind(name, parent)
		parentSocket[parent] = socket
		if err := p.addZone(dir, kind, socket); err != nil {
			return nil, err
		}
	}
	for _, s := range subs {
		name, err := p.readName(s.dir)
		if err != nil {
			return nil, err
		}
		socket, ok := parentSocket[s.parent]
		if !ok {
			socket = s.parent
		}
		if err := p.addZone(s.dir, kindOf(name), socket); err != nil {
			return nil, err
		}
	}
	if len(p.zones) == 0 {
		return nil, fmt.Errorf("powercap: no RAPL zones (%s* with energy_uj) under %s; "+
			"try `modprobe intel_rapl_common intel_rapl_msr`, or use --meter msr", zonePrefix, root)
	}
	p.dedupe()
	if _, err := p.Read(); err != nil {
		return nil, err
	}
	return p, nil
}

// Name implements Meter.
func (p *Powercap) Name() string { return "powercap" }

// Read implements Meter: one Reading per discovered zone, in a stable order
// (by socket, then package, core, uncore, dram, psys).
func (p *Powercap) Read() ([]Reading, error) {
	rs := make([]Reading, len(p.zones))
	for i, z := range p.zones {
		v, err := p.readUint(z.energyPath)
		if err != nil {
			return nil, energyError(err, z.energyPath)
		}
		rs[i] = Reading{
			Kind:       z.kind,
			Socket:     z.socket,
			Path:       z.energyPath,
			EnergyUJ:   v,
			MaxRangeUJ: z.maxRangeUJ,
			CeilingUW:  z.ceilingUW,
		}
	}
	return rs, nil
}

// addZone records the zone in dir unless it has no energy_uj file (a zone
// may expose only power limits).
func (p *Powercap) addZone(dir, kind string, socket int) error {
	energy := filepath.Join(dir, "energy_uj")
	if _, err := os.Stat(energy); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	rangePath := filepath.Join(dir, "max_energy_range_uj")
	maxRange, err := p.readUint(rangePath)
	if err != nil {
		return fmt.Errorf("powercap: %w", err)
	}
	p.zones = append(p.zones, powercapZone{
		kind: kind, socket: socket, energyPath: energy, maxRangeUJ: maxRange,
		ceilingUW: ceilingFromLimits(p.maxStatedPower(dir)),
	})
	return nil
}

// maxStatedPower is the largest constraint_N_max_power_uw or
// constraint_N_power_limit_uw of the zone in dir, in µW (0 when none is
// readable: these files may be absent, or fail with ENODATA).
func (p *Powercap) maxStatedPower(dir string) uint64 {
	var top uint64
	for _, pattern := range []string{"constraint_*_max_power_uw", "constraint_*_power_limit_uw"} {
		files, _ := filepath.Glob(filepath.Join(dir, pattern))
		for _, f := range files {
			if v, err := p.readUint(f); err == nil {
				top = max(top, v)
			}
		}
	}
	return top
}

// dedupe sorts the zones and keeps the first of any (kind, socket) pair seen
// twice, so that a Tracker never sees two counters under one key.
func (p *Powercap) dedupe() {
	sort.SliceStable(p.zones, func(i, j int) bool {
		a, b := p.zones[i], p.zones[j]
		if a.socket != b.socket {
			return a.socket < b.socket
		}
		if kindRank(a.kind) != kindRank(b.kind) {
			return kindRank(a.kind) < kindRank(b.kind)
		}
		return a.energyPath < b.energyPath
	})
	out := p.zones[:0]
	for i, z := range p.zones {
		if i > 0 && z.kind == out[len(out)-1].kind && z.socket == out[len(out)-1].socket {
			continue
		}
		out = append(out, z)
	}
	p.zones = out
}

// readUint reads a small decimal file (energy_uj, max_energy_range_uj)
// without allocating beyond the open itself.
func (p *Powercap) readUint(path string) (uint64, error) {
	f, err := p.open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var buf [32]byte
	n, err := io.ReadFull(f, buf[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	v, ok := parseDecimal(buf[:n])
	if !ok {
		return 0, fmt.Errorf("parse %s: %q is not an unsigned decimal", path, buf[:n])
	}
	return v, nil
}

// parseDecimal parses an unsigned decimal surrounded by optional whitespace.
// strconv does not keep its argument, so string(b) does not allocate here.
func parseDecimal(b []byte) (uint64, bool) {
	v, err := strconv.ParseUint(string(bytes.TrimSpace(b)), 10, 64)
	if err != nil {
		return 0, false
	}
	return v, true
}

// energyError explains an unreadable energy_uj file.
func energyError(err error, path string) error {
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("powercap: %w; energy_uj is readable only by root since CVE-2020-8694: "+
			"run virtwatt-host as root, or grant read access to the service user "+
			"(a udev rule, or `chmod a+r %s` after each boot)", err, path)
	}
	return fmt.Errorf("powercap: %w", err)
}

// parseZoneDir parses "intel-rapl:N" (child -1) and "intel-rapl:N:M".
func parseZoneDir(name string) (parent, child int, ok bool) {
	rest, found := strings.CutPrefix(name, zonePrefix)
	if !found {
		return 0, 0, false
	}
	a, b, hasChild := strings.Cut(rest, ":")
	parent, err := strconv.Atoi(a)
	if err != nil || parent < 0 {
		return 0, 0, false
	}
	if !hasChild {
		return parent, -1, true
	}
	child, err = strconv.Atoi(b)
	if err != nil || child < 0 {
		return 0, 0, false
	}
	return parent, child, true
}

// topLevelKind maps a top-level zone's name to its kind and socket:
// "package-K" is socket K, "psys" is socket 0, anything else keeps the
// directory index.
func topLevelKind(name string, dirIndex int) (string, int) {
	if name == KindPsys {
		return KindPsys, 0
	}
	if rest, ok := strings.CutPrefix(name, KindPackage+"-"); ok {
		if k, err := strconv.Atoi(rest); err == nil && k >= 0 {
			return KindPackage, k
		}
		// Multi-die packages name one zone per die, "package-K-die-D":
		// each is a package counter of its own, keyed by its directory
		// index so that no two share a (kind, socket) pair.
		if pkg, die, ok := strings.Cut(rest, "-die-"); ok && isIndex(pkg) && isIndex(die) {
			return KindPackage, dirIndex
		}
	}
	return kindOf(name), dirIndex
}

// kindOf strips a trailing "-N" index from a zone name ("package-0" →
// "package"); other names are kinds as they are.
func kindOf(name string) string {
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			return name[:i]
		}
	}
	return name
}

func kindRank(k string) int {
	switch k {
	case KindPackage:
		return 0
	case KindCore:
		return 1
	case KindUncore:
		return 2
	case KindDRAM:
		return 3
	case KindPsys:
		return 4
	}
	return 5
}

// readName reads a zone's name file (short: a zone name is a few bytes).
func (p *Powercap) readName(dir string) (string, error) {
	path := filepath.Join(dir, "name")
	f, err := p.open(path)
	if err != nil {
		return "", fmt.Errorf("powercap: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 256))
	if err != nil {
		return "", fmt.Errorf("powercap: read %s: %w", path, err)
	}
	return strings.TrimSpace(string(b)), nil
}

func isIndex(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 0
}
