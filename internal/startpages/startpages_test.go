package startpages

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestMappings(t *testing.T) {
	maps := filepath.Join(t.TempDir(), "maps")
	const exe = "/usr/bin/virt watt" // a path with a space
	content := strings.Join([]string{
		"00400000-0040d000 r--p 00000000 fd:00 12 " + exe,
		"0040d000-00ad9000 r-xp 0000d000 fd:00 12 " + exe,
		"01240000-01241000 r--p 00e3f000 fd:00 12 " + exe, // RELRO after mprotect: not writable now
		"01241000-012bc000 rw-p 00e40000 fd:00 12 " + exe, // data: never advised
		"012bc000-03301000 rw-p 00000000 00:00 0",
		"7f0000000000-7f0000100000 r-xp 00000000 fd:00 99 /usr/lib/libc.so.6",
		"7f0000100000-7f0000200000 r-xp 00000000 fd:00 13 " + exe + " (deleted)",
	}, "\n") + "\n"
	if err := os.WriteFile(maps, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := mappings(maps, exe)
	if err != nil {
		t.Fatal(err)
	}
	want := [][2]uintptr{{0x400000, 0x40d000}, {0x40d000, 0xad9000}, {0x1240000, 0x1241000}}
	if len(got) != len(want) {
		t.Fatalf("mappings = %x, want %x", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("mapping %d = %x, want %x", i, got[i], want[i])
		}
	}
	if _, err := mappings(maps, "/nowhere"); err == nil {
		t.Error("no mapping of the path: want an error")
	}
}

// exeRss is the resident size, in kB, of the executable's mappings that
// are not writable.
func exeRss(t *testing.T) int {
	t.Helper()
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	in, kb := false, 0
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) >= 5 && strings.Contains(fs[0], "-") && !strings.HasSuffix(fs[0], ":") {
			in = len(fs) >= 6 && strings.Join(fs[5:], " ") == exe && fs[1][1] == '-'
			continue
		}
		if in && len(fs) >= 2 && fs[0] == "Rss:" {
			n, _ := strconv.Atoi(fs[1])
			kb += n
		}
	}
	return kb
}

// TestReleaseLowersRSS: after Release the executable's read-only pages
// the test does not use are no longer resident, and the process runs on
// (what it uses faults back in).
func TestReleaseLowersRSS(t *testing.T) {
	before := exeRss(t)
	n, err := Release()
	if err != nil {
		t.Skipf("kernel refuses MADV_PAGEOUT: %v", err)
	}
	if n == 0 {
		t.Fatal("Release advised nothing")
	}
	after := exeRss(t)
	t.Logf("executable's read-only pages: %d kB resident before, %d kB after (%d kB advised)", before, after, n/1024)
	if after >= before {
		t.Errorf("resident %d kB after Release, %d kB before: nothing given back", after, before)
	}
	if _, err := mappings("/proc/self/maps", "/nowhere"); err == nil { // still runs, still right
		t.Error("mappings found a mapping of /nowhere")
	}
}
