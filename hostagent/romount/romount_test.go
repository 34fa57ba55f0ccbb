package romount

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

func newManager(t *testing.T) *Manager {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("bind mounts need root (CAP_SYS_ADMIN)")
	}
	dir := t.TempDir()
	m := New(filepath.Join(dir, "vms"), filepath.Join(dir, "ro"), nil)
	t.Cleanup(func() {
		names, _ := m.Mounted()
		for _, n := range names {
			_ = syscall.Unmount(m.Path(n), syscall.MNT_DETACH)
		}
	})
	return m
}

func TestEnsureMakesReadOnlyView(t *testing.T) {
	m := newManager(t)
	if err := m.Ensure("vm1"); err != nil {
		t.Fatal(err)
	}
	if err := m.Ensure("vm1"); err != nil { // idempotent
		t.Fatal(err)
	}
	ms, _ := m.Table()
	n := 0
	for _, mt := range ms {
		if mt.Point == m.Path("vm1") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d mounts on %s after two Ensure, want 1", n, m.Path("vm1"))
	}
	// The host writes into the share; the view shows it and refuses writes.
	if err := os.WriteFile(filepath.Join(m.ShareRoot, "vm1", "virtwatt.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(m.Path("vm1"), "virtwatt.json")); err != nil || string(b) != "{}" {
		t.Errorf("read through the view: %q %v", b, err)
	}
	err := os.WriteFile(filepath.Join(m.Path("vm1"), "x"), nil, 0o644)
	if !errors.Is(err, syscall.EROFS) {
		t.Errorf("write through the view: %v, want EROFS", err)
	}
	if mounted, ro := Status(ms, m.Path("vm1")); !mounted || !ro {
		t.Errorf("Status: mounted %v ro %v", mounted, ro)
	}
}

func TestReconcileMountsAndRemoves(t *testing.T) {
	m := newManager(t)
	if err := m.Reconcile([]string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := m.Mounted(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("mounted %v, want [a b]", got)
	}
	// A new manager (an agent restart) takes over the old mounts and drops
	// those no longer wanted.
	m2 := New(m.ShareRoot, m.RORoot, nil)
	if err := m2.Reconcile([]string{"b", "c"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := m2.Mounted(); !slices.Equal(got, []string{"b", "c"}) {
		t.Fatalf("mounted %v, want [b c]", got)
	}
	if _, err := os.Stat(m.Path("a")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("mount point of a not removed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(m.ShareRoot, "a")); err != nil {
		t.Errorf("share directory of a removed (the agent prunes it, not the manager): %v", err)
	}
	if err := m2.Remove("b"); err != nil {
		t.Fatal(err)
	}
	if err := m2.Remove("b"); err != nil { // idempotent
		t.Fatal(err)
	}
	if got, _ := m2.Mounted(); !slices.Equal(got, []string{"c"}) {
		t.Errorf("mounted %v after Remove(b), want [c]", got)
	}
}

func TestEnsureRefuses(t *testing.T) {
	m := newManager(t)
	if err := m.Ensure("../x"); err == nil {
		t.Error("Ensure(../x): no error")
	}
	if err := os.MkdirAll(m.RORoot, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc", m.Path("evil")); err != nil {
		t.Fatal(err)
	}
	if err := m.Ensure("evil"); err == nil {
		t.Error("Ensure over a symlink mount point: no error")
	}
}

func TestCovering(t *testing.T) {
	ms := []Mount{{Point: "/", FSType: "ext4"}, {Point: "/run", FSType: "tmpfs"}, {Point: "/run/x", FSType: "xfs"}, {Point: "/runner", FSType: "btrfs"}}
	for path, want := range map[string]string{"/run/virtwatt/vms": "tmpfs", "/run/x/y": "xfs", "/runner/a": "btrfs", "/var": "ext4", "/run": "tmpfs"} {
		if got, ok := Covering(ms, path); !ok || got.FSType != want {
			t.Errorf("Covering(%s) = %v %v, want %s", path, got, ok, want)
		}
	}
}
