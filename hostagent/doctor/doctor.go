// Package doctor checks a virtwatt-host installation and says, for each
// problem, how to fix it: the meter, libvirt, the share root's file
// system, each domain's share (attached, read-only, record advancing),
// the state file, the live carbon intensity source and the listen
// address. Every path is injectable so the
// checks run against fake trees in tests.
//
// Invariant: Report.OK is true only when no check failed; a warning is
// worth reading but does not stop anything from being measured.
package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"libvirt.org/go/libvirt"

	"github.com/virtwatt/virtwatt/estimate"
	"github.com/virtwatt/virtwatt/hostagent/domxml"
	"github.com/virtwatt/virtwatt/hostagent/intensity"
	"github.com/virtwatt/virtwatt/hostagent/meter"
	"github.com/virtwatt/virtwatt/hostagent/romount"
	"github.com/virtwatt/virtwatt/hostagent/state"
	"github.com/virtwatt/virtwatt/share"
)

// Per-VM cost of one tick's share write, as measured for the README: a
// rename over an existing file on ext4 starts writeback of the new one.
const (
	costDisk  = 2 * time.Millisecond
	costTmpfs = 200 * time.Microsecond
	// budget is the part of the interval the share writes may take before
	// the share root's file system is a problem.
	budget = 0.1
)

// Options are what the checks look at (the host agent's config keys).
type Options struct {
	Meter, PowercapRoot, MSRRoot string
	LibvirtURI                   string
	ShareRoot, RORoot            string
	StateFile                    string
	Listen                       string
	Interval                     time.Duration
	// ProcRoot holds self/mountinfo, and cpuinfo, stat and meminfo for
	// the estimating meter (default /proc).
	ProcRoot string
	// Estimate are the estimating meter's figures (the estimate_* keys;
	// zero: the documented defaults).
	Estimate estimate.HostPowerParams
	// Intensity is the carbon intensity keys (a live source is read once).
	Intensity intensity.Config
	// Watch is how long records are watched for their sequence to advance
	// (default: 1.5 intervals).
	Watch time.Duration
	Now   func() time.Time
}

// Status of a check.
type Status string

const (
	OK   Status = "ok"
	Warn Status = "warn"
	Fail Status = "fail"
)

// Check is one finding.
type Check struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// Report is every check, in the order run.
type Report struct {
	OK     bool    `json:"ok"`
	Checks []Check `json:"checks"`
}

func (r *Report) add(c Check) {
	r.Checks = append(r.Checks, c)
	if c.Status == Fail {
		r.OK = false
	}
}

// WriteText prints one line per check, and the fix under each failure or
// warning.
func (r *Report) WriteText(w io.Writer) {
	for _, c := range r.Checks {
		fmt.Fprintf(w, "%-4s  %s: %s\n", strings.ToUpper(string(c.Status)), c.Name, c.Detail)
		if c.Fix != "" {
			fmt.Fprintf(w, "      fix: %s\n", c.Fix)
		}
	}
	if r.OK {
		fmt.Fprintln(w, "all is well")
	} else {
		fmt.Fprintln(w, "problems found: see the fixes above")
	}
}

// WriteJSON prints the report as one JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// Run runs every check.
func Run(ctx context.Context, o Options) *Report {
	if o.ProcRoot == "" {
		o.ProcRoot = "/proc"
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.Watch == 0 {
		o.Watch = o.Interval * 3 / 2
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	r := &Report{OK: true}
	r.add(checkMeter(o))
	mounts, merr := romount.ProcTable(o.ProcRoot)()
	doms, c := listDomains(o)
	r.add(c)
	r.add(checkShareRoot(o, mounts, merr, len(doms)))
	checkDomains(ctx, r, o, doms, mounts)
	r.add(checkState(o))
	if c, ok := checkIntensity(ctx, o.Intensity, o.Now); ok {
		r.add(c)
	}
	r.add(checkListen(o))
	return r
}

func checkMeter(o Options) Check {
	c := Check{Name: "meter"}
	params := o.Estimate
	if params == (estimate.HostPowerParams{}) {
		params = estimate.DefaultHostPowerParams()
	}
	m, fellBack, err := meter.OpenWithEstimate(meter.Options{Kind: o.Meter, PowercapRoot: o.PowercapRoot, MSRRoot: o.MSRRoot,
		Estimate: meter.EstimateOptions{ProcRoot: o.ProcRoot, Params: params}})
	if e, ok := m.(*meter.Estimator); ok && err == nil {
		return estimatorCheck(e, fellBack)
	}
	var rs []meter.Reading
	if err == nil {
		rs, err = m.Read()
		if cl, ok := m.(io.Closer); ok {
			cl.Close()
		}
	}
	if err == nil && len(rs) == 0 {
		err = errors.New("no zones")
	}
	if err != nil {
		c.Status, c.Detail = Fail, err.Error()
		c.Fix = "run virtwatt-host as root: energy_uj is readable by root only since Linux 5.10 (CVE-2020-8694, the Platypus " +
			"power side channel), and MSRs need CAP_SYS_RAWIO; load a RAPL driver (modprobe intel_rapl_common intel_rapl_msr, or msr); " +
			"set powercap_root / msr_root / meter if they live elsewhere"
		return c
	}
	var zones []string
	rootOnly := false
	for _, z := range rs {
		zones = append(zones, fmt.Sprintf("%s-%d (%s)", z.Kind, z.Socket, z.Path))
		if fi, err := os.Stat(z.Path); err == nil && fi.Mode().Perm()&0o004 == 0 {
			rootOnly = true
		}
	}
	c.Status = OK
	c.Detail = "will use " + m.Name() + " (method measured, model rapl): " + strings.Join(zones, ", ")
	if rootOnly {
		c.Detail += "; the counters are not world-readable (the CVE-2020-8694 mitigation): virtwatt-host must stay root or be granted read access"
	}
	return c
}

type dom struct {
	name     string
	active   bool
	inactive string // persistent definition
	live     string
}

func listDomains(o Options) ([]dom, Check) {
	c := Check{Name: "libvirt"}
	fix := "start libvirtd (or virtqemud), check libvirt_uri, and run as root or a member of group libvirt"
	conn, err := libvirt.NewConnect(o.LibvirtURI)
	if err != nil {
		return nil, Check{Name: c.Name, Status: Fail, Detail: fmt.Sprintf("cannot connect to %s: %v", o.LibvirtURI, err), Fix: fix}
	}
	defer conn.Close()
	ds, err := conn.ListAllDomains(0)
	if err != nil {
		return nil, Check{Name: c.Name, Status: Fail, Detail: fmt.Sprintf("%s: list domains: %v", o.LibvirtURI, err), Fix: fix}
	}
	var out []dom
	for _, d := range ds {
		name, err1 := d.GetName()
		active, err2 := d.IsActive()
		inactive, err3 := d.GetXMLDesc(libvirt.DOMAIN_XML_INACTIVE)
		live, err4 := d.GetXMLDesc(0)
		d.Free()
		if err := errors.Join(err1, err2, err3, err4); err != nil {
			continue // vanished meanwhile
		}
		out = append(out, dom{name: name, active: active, inactive: inactive, live: live})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	ver, _ := conn.GetLibVersion()
	return out, Check{Name: c.Name, Status: OK, Detail: fmt.Sprintf("%s answers (libvirt %d.%d.%d), %d domains", o.LibvirtURI, ver/1e6, ver/1e3%1e3, ver%1e3, len(out))}
}

func checkShareRoot(o Options, mounts []romount.Mount, merr error, n int) Check {
	c := Check{Name: "share root"}
	fi, err := os.Stat(o.ShareRoot)
	if err != nil || !fi.IsDir() {
		return Check{Name: c.Name, Status: Fail, Detail: fmt.Sprintf("%s: %v", o.ShareRoot, orNotDir(err)),
			Fix: "start virtwatt-host (it creates share_root), or fix share_root"}
	}
	if merr != nil {
		return Check{Name: c.Name, Status: Warn, Detail: merr.Error(), Fix: "cannot tell the share root's file system"}
	}
	m, _ := romount.Covering(mounts, o.ShareRoot)
	perTick := time.Duration(n) * costDisk
	if m.FSType == "tmpfs" {
		return Check{Name: c.Name, Status: OK, Detail: fmt.Sprintf("%s is on tmpfs: about %v of share writes per %v tick for %d VMs",
			o.ShareRoot, time.Duration(n)*costTmpfs, o.Interval, n)}
	}
	c.Detail = fmt.Sprintf("%s is on %s, not tmpfs: each tick's share writes cost about %v per VM, %v for %d VMs of each %v tick (about %v on tmpfs)",
		o.ShareRoot, m.FSType, costDisk, perTick, n, o.Interval, time.Duration(n)*costTmpfs)
	c.Status = OK
	if perTick > time.Duration(float64(o.Interval)*budget) {
		c.Status = Fail
		c.Fix = "put share_root on a tmpfs (share_root = \"/run/virtwatt/vms\"; the shares are rebuilt from state_file at start), then attach the domains again"
	}
	return c
}

func orNotDir(err error) error {
	if err == nil {
		return errors.New("not a directory")
	}
	return err
}

// checkDomains checks each domain's share and record; records of running
// domains are read twice, Watch apart, to see their sequence advance.
func checkDomains(ctx context.Context, r *Report, o Options, doms []dom, mounts []romount.Mount) {
	first := map[string]*share.Record{}
	for _, d := range doms {
		if rec, err := share.ReadRecord(filepath.Join(o.ShareRoot, d.name)); err == nil {
			first[d.name] = rec
		}
	}
	watch := false
	for _, d := range doms {
		if d.active && first[d.name] != nil {
			watch = true
		}
	}
	if watch {
		select {
		case <-time.After(o.Watch):
		case <-ctx.Done():
		}
	}
	for _, d := range doms {
		r.add(checkShare(o, d, mounts))
		r.add(checkRecord(o, d, first[d.name]))
	}
}

func checkShare(o Options, d dom, mounts []romount.Mount) Check {
	c := Check{Name: d.name + " share"}
	sh, err := domxml.Find(d.inactive)
	if err != nil {
		return Check{Name: c.Name, Status: Fail, Detail: err.Error(), Fix: "fix the domain XML (virsh edit " + d.name + ")"}
	}
	if sh == nil {
		return Check{Name: c.Name, Status: Fail, Detail: "not attached: the definition has no <filesystem> with target dir 'virtwatt'",
			Fix: "virtwatt-host attach " + d.name + " (add --type virtiofs for virtiofs; restart the VM, or --live for virtiofs)"}
	}
	parts := []string{fmt.Sprintf("%s from %s", sh.Type, sh.Source)}
	if !sh.Ours {
		parts = append(parts, "written by hand")
	}
	c.Status = OK
	switch {
	case sh.ReadOnly:
		parts = append(parts, "read-only (<readonly/>)")
	case sh.Type == domxml.Virtiofs:
		mounted, ro := romount.Status(mounts, sh.Source)
		switch {
		case ro:
			parts = append(parts, "read-only bind mount")
		case mounted:
			c.Status, c.Fix = Fail, "remount it read-only: mount -o remount,bind,ro "+sh.Source
			parts = append(parts, "a WRITABLE mount: the guest can write into its share")
		default:
			c.Status, c.Fix = Fail, "start virtwatt-host (it mounts <ro_root>/<name> for every virtiofs domain), or run virtwatt-host attach --type virtiofs "+d.name
			parts = append(parts, "not a read-only mount: the guest can write into its share, or the VM cannot start")
		}
	default:
		c.Status, c.Fix = Fail, "detach and attach again (virtwatt-host detach "+d.name+"; virtwatt-host attach "+d.name+"), or add <readonly/>"
		parts = append(parts, "WRITABLE: the 9p share has no <readonly/>")
	}
	if live, _ := domxml.Find(d.live); d.active && live == nil {
		if c.Status == OK {
			c.Status = Warn
		}
		parts = append(parts, "the running VM does not have it yet")
		if c.Fix == "" {
			c.Fix = "restart the VM (shut down, then start); a virtiofs share can be hot-plugged with virtwatt-host attach --live"
		}
	}
	c.Detail = strings.Join(parts, "; ")
	return c
}

func checkRecord(o Options, d dom, first *share.Record) Check {
	c := Check{Name: d.name + " record"}
	dir := filepath.Join(o.ShareRoot, d.name)
	if first == nil {
		_, err := share.ReadRecord(dir)
		return Check{Name: c.Name, Status: Fail, Detail: fmt.Sprintf("no readable record in %s: %v", dir, err),
			Fix: "start virtwatt-host (it writes every domain's record each tick) and check its log"}
	}
	age := o.Now().Sub(first.Timestamp).Round(time.Millisecond)
	if !d.active {
		return Check{Name: c.Name, Status: OK, Detail: fmt.Sprintf("sequence %d, written %v ago; the domain is not running, so its record changes only when its state does", first.Sequence, age)}
	}
	seen := guestRead(filepath.Join(dir, share.RecordFile)) // before this process reads it again
	again, err := share.ReadRecord(dir)
	if err != nil || again.Instance != first.Instance || again.Sequence <= first.Sequence {
		return Check{Name: c.Name, Status: Fail, Detail: fmt.Sprintf("sequence %d did not advance within %v (last written %v ago)", first.Sequence, o.Watch, age),
			Fix: "check that virtwatt-host runs (systemctl status virtwatt-host) and its log for share write errors"}
	}
	c.Status = OK
	c.Detail = fmt.Sprintf("sequence %d -> %d within %v", first.Sequence, again.Sequence, o.Watch) + "; " + seen
	return c
}

// guestRead says what the host can see of guest reads: the share is
// read-only, so the guest leaves no trace but the file's access time,
// which updates (relatime) on the first read after each write, when the
// mount and the exporter let it.
func guestRead(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return "guest reads cannot be seen"
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "guest reads cannot be seen"
	}
	at := time.Unix(st.Atim.Sec, st.Atim.Nsec)
	mt := time.Unix(st.Mtim.Sec, st.Mtim.Nsec)
	if at.After(mt) {
		return "the record was read since its last write (access time): a guest (or something on the host) reads it"
	}
	return "no read seen since its last write: the host cannot see guest reads for sure (a noatime mount or the exporter may not update access times); ask the guest: virtwatt-guest status, or its virtwatt_share_up metric"
}

func checkState(o Options) Check {
	c := Check{Name: "state file"}
	st, err := state.Load(o.StateFile)
	if err != nil {
		return Check{Name: c.Name, Status: Fail, Detail: err.Error(), Fix: "move the file aside (the counters restart from zero) or restore a backup"}
	}
	if _, err := os.Stat(o.StateFile); errors.Is(err, fs.ErrNotExist) {
		return Check{Name: c.Name, Status: OK, Detail: o.StateFile + " does not exist yet; virtwatt-host creates it at its first tick"}
	}
	return Check{Name: c.Name, Status: OK, Detail: fmt.Sprintf("%s loads: %d VMs", o.StateFile, len(st.VMs))}
}

func checkListen(o Options) Check {
	c := Check{Name: "listen address"}
	l, err := net.Listen("tcp", o.Listen)
	if err == nil {
		l.Close()
		return Check{Name: c.Name, Status: OK, Detail: o.Listen + " is free"}
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		return Check{Name: c.Name, Status: Fail, Detail: err.Error(), Fix: "set listen to an address of this host, e.g. :28380"}
	}
	host, port, _ := net.SplitHostPort(o.Listen)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	cl := http.Client{Timeout: 2 * time.Second}
	resp, herr := cl.Get("http://" + net.JoinHostPort(host, port) + "/metrics")
	if herr == nil {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if strings.Contains(string(b), "virtwatt_host_") {
			return Check{Name: c.Name, Status: OK, Detail: o.Listen + " is served by a running virtwatt-host"}
		}
	}
	return Check{Name: c.Name, Status: Fail, Detail: o.Listen + " is in use by something that does not serve virtwatt-host metrics",
		Fix: "stop what listens there (ss -ltnp '( sport = :" + port + " )'), or set listen to another port"}
}
