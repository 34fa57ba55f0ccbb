package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/hostagent/domxml"
	"github.com/virtwatt/virtwatt/share"
	"github.com/virtwatt/virtwatt/tests/fakerapl"
)

// setup is a fake host: a powercap tree, a libvirt test-driver node,
// share and ro roots, a mount table, and records a fake agent advances.
type setup struct {
	dir       string
	opts      Options
	domains   []string // names; even ones 9p, odd ones virtiofs
	attached  bool
	shareFS   string // file system of the share root in the mount table
	roWanted  bool   // the virtiofs views are read-only mounts
	noRecords bool
}

func newSetup(t *testing.T, n int) *setup {
	s := &setup{dir: t.TempDir(), attached: true, shareFS: "tmpfs", roWanted: true}
	for i := range n {
		s.domains = append(s.domains, fmt.Sprintf("vm%d", i))
	}
	tree, err := fakerapl.New(filepath.Join(s.dir, "sys"), fakerapl.Standard(1, 40, 4, time.Minute), 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s.opts = Options{Meter: "powercap", PowercapRoot: tree.Root(), ShareRoot: filepath.Join(s.dir, "vms"),
		RORoot: filepath.Join(s.dir, "ro"), StateFile: filepath.Join(s.dir, "state.json"), Listen: addr,
		Interval: 100 * time.Millisecond, ProcRoot: filepath.Join(s.dir, "proc"), Watch: 250 * time.Millisecond}
	return s
}

func (s *setup) fsType(i int) domxml.FSType {
	if i%2 == 1 {
		return domxml.Virtiofs
	}
	return domxml.NineP
}

// run writes the fake host and runs the doctor.
func (s *setup) run(t *testing.T) *Report {
	t.Helper()
	var node strings.Builder
	node.WriteString("<node><cpu><nodes>1</nodes><sockets>1</sockets><cores>2</cores><threads>1</threads><mhz>2000</mhz><model>i686</model><active>2</active></cpu><memory>8388608</memory>\n")
	for i, n := range s.domains {
		x := fmt.Sprintf("<domain type='test'><name>%s</name><uuid>00000000-0000-0000-0000-%012d</uuid><memory>524288</memory><vcpu>1</vcpu><os><type>hvm</type></os><devices>\n</devices></domain>", n, i+1)
		if s.attached {
			spec := domxml.Spec{Type: s.fsType(i), Source: filepath.Join(s.opts.ShareRoot, n), ReadOnly: true}
			if spec.Type == domxml.Virtiofs {
				spec = domxml.Spec{Type: domxml.Virtiofs, Source: filepath.Join(s.opts.RORoot, n)}
			}
			var err error
			if x, _, err = domxml.Attach(x, spec); err != nil {
				t.Fatal(err)
			}
		}
		node.WriteString(x + "\n")
	}
	node.WriteString("</node>\n")
	nodePath := filepath.Join(s.dir, "node.xml")
	if err := os.WriteFile(nodePath, []byte(node.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	s.opts.LibvirtURI = "test://" + nodePath

	mi := "1 0 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n"
	mi += fmt.Sprintf("2 1 0:30 / %s rw,nosuid - %s tmp rw\n", s.opts.ShareRoot, s.shareFS)
	for i, n := range s.domains {
		if s.fsType(i) == domxml.Virtiofs && s.roWanted {
			mi += fmt.Sprintf("%d 2 0:30 /%s %s ro,nosuid,nodev,noexec - %s tmp rw\n", 10+i, n, filepath.Join(s.opts.RORoot, n), s.shareFS)
		}
	}
	if err := os.MkdirAll(filepath.Join(s.opts.ProcRoot, "self"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.opts.ProcRoot, "self", "mountinfo"), []byte(mi), 0o644); err != nil {
		t.Fatal(err)
	}

	w, err := share.NewWriter(s.opts.ShareRoot)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { // the agent: one record per domain per 50 ms
		defer close(done)
		defer w.Close()
		for seq := uint64(1); !s.noRecords; seq++ {
			for i, n := range s.domains {
				rec := share.Record{Schema: share.SchemaVersion, Host: "h", Domain: n, UUID: fmt.Sprintf("00000000-0000-0000-0000-%012d", i+1),
					Instance: "i1", Sequence: seq, Timestamp: time.Now(), IntervalSeconds: 0.1, VCPUs: 1,
					Zones: map[string]share.ZoneEnergy{share.ZonePackage: {UsageUJ: seq}}}
				if err := w.Write(n, &rec, false); err != nil {
					t.Error(err)
					return
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	time.Sleep(60 * time.Millisecond)
	r := Run(context.Background(), s.opts)
	cancel()
	<-done
	var out bytes.Buffer
	r.WriteText(&out)
	t.Logf("doctor:\n%s", out.String())
	return r
}

func failed(r *Report) map[string]Check {
	out := map[string]Check{}
	for _, c := range r.Checks {
		if c.Status == Fail {
			out[c.Name] = c
		}
	}
	return out
}

func TestHealthy(t *testing.T) {
	s := newSetup(t, 2)
	r := s.run(t)
	if !r.OK || len(failed(r)) > 0 {
		t.Fatalf("healthy setup: OK %v, failures %v", r.OK, failed(r))
	}
	var names []string
	for _, c := range r.Checks {
		names = append(names, c.Name)
	}
	for _, want := range []string{"meter", "libvirt", "share root", "vm0 share", "vm0 record", "vm1 share", "vm1 record", "state file", "listen address"} {
		if !strings.Contains(strings.Join(names, "|"), want) {
			t.Errorf("no %q check among %v", want, names)
		}
	}
	for _, c := range r.Checks {
		if c.Name == "vm0 record" && !strings.Contains(c.Detail, "no read seen") {
			t.Errorf("nothing read vm0's record, yet: %s", c.Detail)
		}
	}
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil || !back.OK || len(back.Checks) != len(r.Checks) {
		t.Errorf("JSON: %v %+v", err, back)
	}
}

func TestBroken(t *testing.T) {
	for _, tc := range []struct {
		name   string
		n      int
		break_ func(s *setup)
		check  string // the failing check
		detail string // in its detail
	}{
		{"unreadable meter", 2, func(s *setup) { s.opts.PowercapRoot = filepath.Join(s.dir, "nothing") }, "meter", "nothing"},
		{"share not attached", 2, func(s *setup) { s.attached = false }, "vm0 share", "not attached"},
		{"virtiofs view not mounted", 2, func(s *setup) { s.roWanted = false }, "vm1 share", "not a read-only mount"},
		{"share root not on tmpfs with many VMs", 6, func(s *setup) { s.shareFS = "ext4" }, "share root", "not tmpfs"},
		{"records not advancing", 2, func(s *setup) { s.noRecords = true }, "vm0 record", "no readable record"},
		{"state file corrupt", 2, func(s *setup) { os.WriteFile(s.opts.StateFile, []byte("{"), 0o644) }, "state file", "state.json"},
		{"listen address taken", 2, func(s *setup) {
			l, err := net.Listen("tcp", s.opts.Listen)
			if err == nil {
				go func() { time.Sleep(5 * time.Second); l.Close() }()
			}
		}, "listen address", "in use"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSetup(t, tc.n)
			tc.break_(s)
			r := s.run(t)
			if r.OK {
				t.Fatal("Report.OK on a broken setup")
			}
			c, ok := failed(r)[tc.check]
			if !ok {
				t.Fatalf("check %q did not fail; failures %v", tc.check, failed(r))
			}
			if !strings.Contains(c.Detail, tc.detail) || c.Fix == "" {
				t.Errorf("%s: detail %q (want %q), fix %q", tc.check, c.Detail, tc.detail, c.Fix)
			}
		})
	}
}

func TestDiskShareRootFewVMsIsFine(t *testing.T) {
	s := newSetup(t, 2)
	s.shareFS = "ext4"
	r := s.run(t)
	for _, c := range r.Checks {
		if c.Name == "share root" && (c.Status != OK || !strings.Contains(c.Detail, "not tmpfs")) {
			t.Errorf("share root on ext4 with 2 VMs: %+v", c)
		}
	}
}
