package share

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

func TestWriteRoundTrip(t *testing.T) {
	w, root := newTestWriter(t)
	want := testRecord(7, 123456789, 4242)
	if err := w.Write("vm-a", want, true); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "vm-a")
	got, err := ReadRecord(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Sequence != 7 || got.Zones[ZonePackage] != want.Zones[ZonePackage] ||
		got.Zones[ZoneDRAM] != want.Zones[ZoneDRAM] || !got.Timestamp.Equal(want.Timestamp) ||
		got.PUE != 1.2 || got.Labels["team"] != "ml" || got.UUID != want.UUID {
		t.Errorf("ReadRecord = %+v, want %+v", got, want)
	}
	tree, err := ReadTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	wantTree := Tree{PackageUJ: 123456789, PackageMaxUJ: TreeMaxRangeUJ, HasDRAM: true, DRAMUJ: 4242, DRAMMaxUJ: TreeMaxRangeUJ}
	if tree != wantTree {
		t.Errorf("ReadTree = %+v, want %+v", tree, wantTree)
	}
	for path, want := range map[string]string{
		filepath.Join(dir, PackageZoneDir, NameFile):     "package-0\n",
		filepath.Join(dir, PackageZoneDir, EnergyFile):   "123456789\n",
		filepath.Join(dir, PackageZoneDir, MaxRangeFile): "262143328850\n",
		filepath.Join(dir, DRAMZoneDir, NameFile):        "dram\n",
		filepath.Join(dir, DRAMZoneDir, EnergyFile):      "4242\n",
	} {
		if got := readString(t, path); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, CoreZoneDir)); err != nil || !fi.IsDir() {
		t.Errorf("core zone dir: %v, %v", fi, err)
	}
	for _, p := range []string{dir, filepath.Join(dir, PackageZoneDir)} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("%s: mode %v, err %v; want 0755", p, fi.Mode(), err)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, RecordFile)); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("record: mode %v, err %v; want 0644", fi.Mode(), err)
	}
	if left := tempFiles(t, root); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestWriteNoDRAM(t *testing.T) {
	w, root := newTestWriter(t)
	rec := testRecord(1, 10, 0)
	delete(rec.Zones, ZoneDRAM)
	if err := w.Write("vm", rec, false); err != nil {
		t.Fatal(err)
	}
	tree, err := ReadTree(filepath.Join(root, "vm"))
	if err != nil {
		t.Fatal(err)
	}
	if tree.HasDRAM || tree.PackageUJ != 10 {
		t.Errorf("tree = %+v, want package 10 and no dram", tree)
	}
	if _, err := os.Lstat(filepath.Join(root, "vm", DRAMZoneDir)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dram zone dir exists without dram: %v", err)
	}
	if err := w.Write("vm", rec, true); err == nil {
		t.Error("Write(hasDRAM) of a record without a dram zone succeeded")
	}
}

func TestWriteWrapsEnergy(t *testing.T) {
	for _, tc := range []struct {
		total, want uint64
	}{
		{0, 0},
		{TreeMaxRangeUJ - 1, TreeMaxRangeUJ - 1},
		{TreeMaxRangeUJ, 0},
		{TreeMaxRangeUJ + 5, 5},
		{3*TreeMaxRangeUJ + 17, 17},
	} {
		w, root := newTestWriter(t)
		if err := w.Write("vm", testRecord(1, tc.total, tc.total), true); err != nil {
			t.Fatal(err)
		}
		tree, err := ReadTree(filepath.Join(root, "vm"))
		if err != nil {
			t.Fatal(err)
		}
		if tree.PackageUJ != tc.want || tree.DRAMUJ != tc.want {
			t.Errorf("total %d: tree %+v, want counters %d", tc.total, tree, tc.want)
		}
		rec, err := ReadRecord(filepath.Join(root, "vm"))
		if err != nil {
			t.Fatal(err)
		}
		if got := rec.Zones[ZonePackage].TotalUJ(); got != tc.total {
			t.Errorf("record keeps the unwrapped total: got %d, want %d", got, tc.total)
		}
	}
}

func TestWriteStaticFilesCached(t *testing.T) {
	w, root := newTestWriter(t)
	w.CheckEvery = 1 // the full check; the held path is TestHeld*
	nameFile := filepath.Join(root, "vm", PackageZoneDir, NameFile)
	if err := w.Write("vm", testRecord(1, 1, 1), true); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(nameFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write("vm", testRecord(2, 2, 2), true); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(nameFile)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) {
		t.Error("the name file was rewritten although unchanged")
	}
	// Deleted behind the writer's back: rewritten on the next tick.
	if err := os.Remove(nameFile); err != nil {
		t.Fatal(err)
	}
	if err := w.Write("vm", testRecord(3, 3, 3), true); err != nil {
		t.Fatal(err)
	}
	if got := readString(t, nameFile); got != "package-0\n" {
		t.Errorf("name file after deletion = %q", got)
	}
	// Replaced with other content: rewritten too.
	if err := os.WriteFile(filepath.Join(root, "vm", PackageZoneDir, MaxRangeFile), []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := w.Write("vm", testRecord(4, 4, 4), true); err != nil {
		t.Fatal(err)
	}
	if got := readString(t, filepath.Join(root, "vm", PackageZoneDir, MaxRangeFile)); got != "262143328850\n" {
		t.Errorf("max range after replacement = %q", got)
	}
}

func TestWriteRejectsBadInput(t *testing.T) {
	w, root := newTestWriter(t)
	bad := testRecord(1, 1, 1)
	bad.Instance = ""
	for _, tc := range []struct {
		name string
		vm   string
		rec  *Record
	}{
		{"invalid name", "../x", testRecord(1, 1, 1)},
		{"nil record", "vm", nil},
		{"invalid record", "vm", bad},
	} {
		if err := w.Write(tc.vm, tc.rec, false); err == nil {
			t.Errorf("%s: Write succeeded", tc.name)
		}
	}
	if names, err := w.List(); err != nil || len(names) != 0 {
		t.Errorf("after refused writes: List = %v, %v; want nothing", names, err)
	}
	if _, err := os.Lstat(filepath.Join(filepath.Dir(root), "x")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused write created something outside the root: %v", err)
	}
}

func TestEnsureDirListRemove(t *testing.T) {
	w, root := newTestWriter(t)
	for _, n := range []string{"b", "a", "c"} {
		if err := w.EnsureDir(n); err != nil {
			t.Fatal(err)
		}
	}
	for _, z := range []string{PackageZoneDir, CoreZoneDir} {
		if fi, err := os.Lstat(filepath.Join(root, "a", z)); err != nil || !fi.IsDir() {
			t.Errorf("EnsureDir did not create %s: %v", z, err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "stray-file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "a"), filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	names, err := w.List()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names, []string{"a", "b", "c"}) {
		t.Errorf("List = %v, want [a b c]", names)
	}
	if err := w.Write("b", testRecord(1, 1, 1), true); err != nil {
		t.Fatal(err)
	}
	if err := w.Remove("b"); err != nil {
		t.Fatal(err)
	}
	if err := w.Remove("b"); err != nil {
		t.Errorf("Remove of a missing dir: %v", err)
	}
	if err := w.Remove(".."); err == nil {
		t.Error("Remove(\"..\") succeeded")
	}
	names, _ = w.List()
	if !slices.Equal(names, []string{"a", "c"}) {
		t.Errorf("after Remove: List = %v, want [a c]", names)
	}
	// A re-created directory gets its static files again.
	if err := w.Write("b", testRecord(1, 1, 1), true); err != nil {
		t.Fatal(err)
	}
	if got := readString(t, filepath.Join(root, "b", DRAMZoneDir, NameFile)); got != "dram\n" {
		t.Errorf("dram name after re-creation = %q", got)
	}
}

// TestWriteFailureKeepsOldFile simulates a full disk: the write of the
// temporary file fails; Write must return the error, leave the old
// content in place and no temporary file behind.
func TestWriteFailureKeepsOldFile(t *testing.T) {
	w, root := newTestWriter(t)
	dir := filepath.Join(root, "vm")
	if err := w.Write("vm", testRecord(1, 100, 10), true); err != nil {
		t.Fatal(err)
	}
	oldRecord := readString(t, filepath.Join(dir, RecordFile))
	oldEnergy := readString(t, filepath.Join(dir, PackageZoneDir, EnergyFile))

	for failAt := 1; failAt <= 3; failAt++ { // package energy, dram energy, record
		n := 0
		w.write = func(fd int, b []byte) error {
			n++
			if n == failAt {
				_ = plainWrite(fd, b[:len(b)/2]) // a partial write, then the disk is full
				return syscall.ENOSPC
			}
			return plainWrite(fd, b)
		}
		err := w.Write("vm", testRecord(2, 200, 20), true)
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("failAt %d: Write = %v, want ENOSPC", failAt, err)
		}
		if left := tempFiles(t, root); len(left) != 0 {
			t.Errorf("failAt %d: temporary files left: %v", failAt, left)
		}
		if got := readString(t, filepath.Join(dir, RecordFile)); got != oldRecord {
			t.Errorf("failAt %d: record changed after a failed write:\n%s", failAt, got)
		}
		if failAt == 1 {
			if got := readString(t, filepath.Join(dir, PackageZoneDir, EnergyFile)); got != oldEnergy {
				t.Errorf("energy_uj changed after a failed write: %q", got)
			}
		}
		if _, err := ReadRecord(dir); err != nil {
			t.Errorf("failAt %d: record unreadable after a failed write: %v", failAt, err)
		}
	}
	w.write = plainWrite
	if err := w.Write("vm", testRecord(3, 300, 30), true); err != nil {
		t.Fatalf("Write after the disk has room again: %v", err)
	}
	if rec, err := ReadRecord(dir); err != nil || rec.Sequence != 3 {
		t.Errorf("after recovery: %+v, %v", rec, err)
	}
}

func TestNewWriterCreatesRoot(t *testing.T) {
	root := filepath.Join(t.TempDir(), "a", "b")
	w, err := NewWriter(root)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		t.Fatalf("root not created: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Write("vm", testRecord(1, 1, 1), false); err == nil {
		t.Error("Write after Close succeeded")
	}
}

func TestValidName(t *testing.T) {
	long := repeat('a', 255)
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"vm-a", true},
		{"web.01_prod", true},
		{"..hidden", true},
		{"é-ünïcode", true},
		{long, true},
		{long + "a", false},
		{"", false},
		{".", false},
		{"..", false},
		{"a/b", false},
		{"/abs", false},
		{"a\x00b", false},
	} {
		if err := ValidName(tc.name); (err == nil) != tc.ok {
			t.Errorf("ValidName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func repeat(c byte, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = c
	}
	return string(b)
}

func BenchmarkWrite(b *testing.B) {
	w, _ := newTestWriter(b)
	rec := testRecord(1, 1e9, 1e8)
	if err := w.Write("vm", rec, true); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		rec.Sequence++
		z := rec.Zones[ZonePackage]
		z.UsageUJ += 1000
		rec.Zones[ZonePackage] = z
		if err := w.Write("vm", rec, true); err != nil {
			b.Fatal(err)
		}
	}
}

// TestWriteModesUnderStrictUmask: a daemon started with UMask=0077 must
// still publish files the guest side can read.
func TestWriteModesUnderStrictUmask(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	w, root := newTestWriter(t)
	if err := w.Write("vm", testRecord(1, 1, 1), true); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{
		root:                                   0o755,
		filepath.Join(root, "vm"):              0o755,
		filepath.Join(root, "vm", CoreZoneDir): 0o755,
		filepath.Join(root, "vm", RecordFile):  0o644,
		filepath.Join(root, "vm", DRAMZoneDir, EnergyFile):      0o644,
		filepath.Join(root, "vm", PackageZoneDir, MaxRangeFile): 0o644,
	} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
	}
}

// TestWriterRemovesStaleTemps: the temporary files a writer killed
// between create and rename left in a VM directory and a zone directory
// are removed when a new Writer first holds them; a link of that name is
// unlinked with its target untouched, and a directory of that name and
// every other file stay.
func TestWriterRemovesStaleTemps(t *testing.T) {
	root := filepath.Join(t.TempDir(), "share")
	outside := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(outside, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := NewWriter(root)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write("vm-a", testRecord(1, 10, 1), true); err != nil {
		t.Fatal(err)
	}
	w.Close()
	dir := filepath.Join(root, "vm-a")
	zone := filepath.Join(dir, PackageZoneDir)
	stale := []string{filepath.Join(dir, tmpPrefix+"killed"), filepath.Join(zone, tmpPrefix+"killed2")}
	for _, p := range stale {
		if err := os.WriteFile(p, []byte("{\"schema\":1,"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(dir, tmpPrefix+"link")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	keepDir := filepath.Join(dir, tmpPrefix+"dir")
	if err := os.Mkdir(keepDir, 0o755); err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(keep, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}

	w2, err := NewWriter(root)
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	if err := w2.Write("vm-a", testRecord(2, 20, 2), true); err != nil {
		t.Fatal(err)
	}
	for _, p := range append(stale, link) {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s still there (%v)", p, err)
		}
	}
	for _, p := range []string{keepDir, keep} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s removed: %v", p, err)
		}
	}
	if got := readString(t, outside); got != "keep" {
		t.Errorf("the link's target changed: %q", got)
	}
}
