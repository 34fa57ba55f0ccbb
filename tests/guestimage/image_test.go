package guestimage

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// cpioEntry is one parsed newc entry.
type cpioEntry struct {
	name string
	mode uint64
	data string
}

// parseNewc reads back what cpioWriter wrote, checking the framing.
func parseNewc(t *testing.T, b []byte) []cpioEntry {
	t.Helper()
	var out []cpioEntry
	off := 0
	field := func(i int) uint64 {
		v, err := strconv.ParseUint(string(b[off+6+8*i:off+6+8*i+8]), 16, 64)
		if err != nil {
			t.Fatalf("offset %d field %d: %v", off, i, err)
		}
		return v
	}
	align := func(n int) int { return (n + 3) &^ 3 }
	for {
		if string(b[off:off+6]) != "070701" {
			t.Fatalf("offset %d: bad magic %q", off, b[off:off+6])
		}
		mode, size, nameSize := field(1), int(field(6)), int(field(11))
		name := string(b[off+110 : off+110+nameSize-1])
		dataOff := align(off + 110 + nameSize)
		data := string(b[dataOff : dataOff+size])
		off = align(dataOff + size)
		if name == "TRAILER!!!" {
			if off != len(b) {
				t.Fatalf("%d bytes after the trailer", len(b)-off)
			}
			return out
		}
		out = append(out, cpioEntry{name, mode, data})
	}
}

func TestCpioRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	c := &cpioWriter{w: &buf}
	c.Dir("bin", 0o755)
	c.File("bin/x", 0o755, []byte("abcde")) // odd sizes exercise the padding
	c.Symlink("bin/sh", "busybox")
	c.CharDev("dev/console", 0o600, 5, 1)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	got := parseNewc(t, buf.Bytes())
	want := []cpioEntry{
		{"bin", modeDir | 0o755, ""},
		{"bin/x", modeFile | 0o755, "abcde"},
		{"bin/sh", modeSymlink | 0o777, "busybox"},
		{"dev/console", modeCharDev | 0o600, ""},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestBuild(t *testing.T) {
	src := t.TempDir()
	kdir := filepath.Join(src, "kernel")
	for _, m := range Modules {
		p := filepath.Join(kdir, "modules", m)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("ko:"+m), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{filepath.Join(kdir, "vmlinuz"): "kernel", filepath.Join(src, "busybox"): "bb", filepath.Join(src, "virtwatt-guest"): "prog"}
	for p, v := range files {
		if err := os.WriteFile(p, []byte(v), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	img, err := Build(Config{KernelDir: kdir, Busybox: filepath.Join(src, "busybox"), Program: filepath.Join(src, "virtwatt-guest"),
		ProgramArgs: []string{"--share-dir", "/mnt/virtwatt"}, OutDir: filepath.Join(t.TempDir(), "out")})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(img.Initrd)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]cpioEntry{}
	for _, e := range parseNewc(t, raw) {
		byName[e.name] = e
	}
	if e := byName["bin/virtwatt-guest"]; e.data != "prog" || e.mode != modeFile|0o755 {
		t.Errorf("program entry = %+v", e)
	}
	if e := byName["lib/modules/virtiofs.ko"]; e.data != "ko:fs/fuse/virtiofs.ko" {
		t.Errorf("virtiofs module = %+v", e)
	}
	order := strings.Fields(byName["lib/modules/order"].data)
	if len(order) != len(Modules) || order[0] != "virtio_ring.ko" || order[len(order)-1] != "virtio_net.ko" {
		t.Errorf("module order = %v", order)
	}
	initScript := byName["init"].data
	for _, want := range []string{"/bin/virtwatt-guest '--share-dir' '/mnt/virtwatt' $EXTRA", "version=9p2000.L", ",ro ", "-t virtiofs -o ro"} {
		if !strings.Contains(initScript, want) {
			t.Errorf("init lacks %q", want)
		}
	}
	if k, err := os.ReadFile(img.Kernel); err != nil || string(k) != "kernel" {
		t.Errorf("kernel copy = %q, %v", k, err)
	}
}

func TestBuildNamesMissingKernel(t *testing.T) {
	_, err := Build(Config{KernelDir: t.TempDir(), OutDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "install.sh") {
		t.Fatalf("err = %v, want a hint to run install.sh", err)
	}
}

func TestInitScriptQuotes(t *testing.T) {
	s := InitScript("/bin/p", []string{"a b", "it's"})
	if !strings.Contains(s, `/bin/p 'a b' 'it'\''s' $EXTRA`) {
		t.Errorf("bad quoting in:\n%s", s)
	}
}

// Who mounts the share: the agent for 9p tagged "virtwatt" (the e2e guest
// that finds its share by itself), the init script otherwise, and
// vw.mount= wins. The script's own selection is run by sh.
func TestInitMountChoice(t *testing.T) {
	s := InitScript("/bin/p", nil)
	start := strings.Index(s, "if [ -z \"$MOUNT\" ]; then")
	end := strings.Index(s, "if [ \"$MOUNT\" = init ]; then")
	if start < 0 || end < start {
		t.Fatalf("no mount selection in the init script:\n%s", s)
	}
	sel := s[start:end]
	for _, tc := range []struct{ fs, tag, mount, want string }{
		{"9p", "virtwatt", "", "agent"},
		{"virtiofs", "virtwatt", "", "init"},
		{"9p", "other", "", "init"},
		{"9p", "virtwatt", "init", "init"},
		{"virtiofs", "virtwatt", "agent", "agent"},
	} {
		out, err := exec.Command("sh", "-c", "FS="+tc.fs+"; TAG="+tc.tag+"; MOUNT="+tc.mount+"\n"+sel+"echo $MOUNT").Output()
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(out)); got != tc.want {
			t.Errorf("fs=%s tag=%s vw.mount=%q: %s mounts, want %s", tc.fs, tc.tag, tc.mount, got, tc.want)
		}
	}
	// In agent mode the mount is reported before VW-AGENT-START, which the
	// e2e suite waits for; the init script runs no mount of the share.
	agent := s[strings.Index(s, "if [ \"$MOUNT\" = agent ]; then"):]
	if i, j := strings.Index(agent, "VW-MOUNT-OK $FS by the agent"), strings.Index(agent, `echo "VW-AGENT-START"`); i < 0 || j < i {
		t.Errorf("agent mode does not report the mount before VW-AGENT-START:\n%s", agent)
	}
}
