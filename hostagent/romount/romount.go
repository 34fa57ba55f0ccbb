// Package romount keeps one read-only bind mount per VM of its share
// directory: <share_root>/<name> is bound to <ro_root>/<name> and
// remounted ro,bind,nosuid,nodev,noexec. libvirt exports that path over
// virtiofs, whose <readonly/> libvirt before 11.0 refuses, so a guest
// (even as root, even remounting its side read-write) cannot write into
// what the host publishes.
//
// Privileges: mount(2) and umount(2) need CAP_SYS_ADMIN in the mount
// namespace libvirt's virtiofsd sees, i.e. the host's: a service that runs
// the agent must not give it a private mount namespace (systemd's
// PrivateTmp, ProtectSystem, ProtectHome, ReadWritePaths... all create
// one) unless ro_root is a shared mount propagated back to the host.
//
// Invariants: the manager only ever mounts onto and unmounts from direct
// children of ro_root; it never follows a symlink found there (the mount
// point must be a real directory); Ensure, Remove and Reconcile are
// idempotent and safe for concurrent use.
package romount

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"

	"github.com/prometheus/procfs"

	"github.com/virtwatt/virtwatt/share"
)

// Mount is one mount point as the mount table shows it.
type Mount struct {
	Point    string
	ReadOnly bool
	FSType   string
}

// Table reads the mount table of the namespace the mounts are made in.
type Table func() ([]Mount, error)

// ProcTable reads <procRoot>/self/mountinfo.
func ProcTable(procRoot string) Table {
	return func() ([]Mount, error) {
		pfs, err := procfs.NewFS(procRoot)
		if err != nil {
			return nil, fmt.Errorf("mount table: %w", err)
		}
		ms, err := pfs.GetMounts()
		if err != nil {
			return nil, fmt.Errorf("mount table %s/self/mountinfo: %w", procRoot, err)
		}
		out := make([]Mount, len(ms))
		for i, m := range ms {
			_, ro := m.Options["ro"]
			out[i] = Mount{Point: m.MountPoint, ReadOnly: ro, FSType: m.FSType}
		}
		return out, nil
	}
}

// Covering returns the mount that holds path: the longest mount point
// that is path or one of its parents (ok false when none matches).
func Covering(ms []Mount, path string) (Mount, bool) {
	path = filepath.Clean(path)
	best, found := Mount{}, false
	for _, m := range ms {
		p := filepath.Clean(m.Point)
		if (p == path || p == "/" || len(path) > len(p) && path[:len(p)] == p && path[len(p)] == '/') && (!found || len(p) >= len(best.Point)) {
			best, found = m, true
		}
	}
	return best, found
}

// Manager keeps the read-only bind mounts.
type Manager struct {
	ShareRoot, RORoot string
	Table             Table
	Log               *slog.Logger

	mu      sync.Mutex
	mounted map[string]bool // names mounted (or found mounted) by this manager
}

// New returns a manager reading the mount table of this process.
func New(shareRoot, roRoot string, log *slog.Logger) *Manager {
	if log == nil {
		log = slog.Default()
	}
	return &Manager{ShareRoot: shareRoot, RORoot: roRoot, Table: ProcTable("/proc"), Log: log, mounted: map[string]bool{}}
}

// Path is where the read-only view of name's share is.
func (m *Manager) Path(name string) string { return filepath.Join(m.RORoot, name) }

// Ensure creates name's share directory and its read-only bind mount.
func (m *Manager) Ensure(name string) error {
	ms, err := m.Table()
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ensure(name, ms)
}

func (m *Manager) ensure(name string, ms []Mount) error {
	if err := share.ValidName(name); err != nil {
		return err
	}
	src, dst := filepath.Join(m.ShareRoot, name), m.Path(name)
	for _, d := range []string{m.ShareRoot, src, m.RORoot, dst} {
		if err := mkdirReal(d); err != nil {
			return err
		}
	}
	cur, mounted := mountAt(ms, dst)
	switch {
	case mounted && cur.ReadOnly && sameDir(src, dst):
		m.mounted[name] = true
		return nil
	case mounted && !sameDir(src, dst):
		return fmt.Errorf("%s is a mount point of something other than %s: unmount it (umount %s), then the agent remounts it", dst, src, dst)
	case !mounted:
		if err := syscall.Mount(src, dst, "", syscall.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind mount %s on %s (needs root, CAP_SYS_ADMIN): %w", src, dst, err)
		}
	}
	flags := uintptr(syscall.MS_REMOUNT | syscall.MS_BIND | syscall.MS_RDONLY | syscall.MS_NOSUID | syscall.MS_NODEV | syscall.MS_NOEXEC)
	if err := syscall.Mount("", dst, "", flags, ""); err != nil {
		_ = syscall.Unmount(dst, syscall.MNT_DETACH) // never leave it writable
		return fmt.Errorf("remount %s read-only: %w", dst, err)
	}
	m.mounted[name] = true
	m.Log.Info("read-only view of the share mounted", "domain", name, "source", src, "path", dst)
	return nil
}

// Remove unmounts name's read-only view and removes its mount point. The
// share directory itself is the agent's (it prunes it).
func (m *Manager) Remove(name string) error {
	ms, err := m.Table()
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.remove(name, ms)
}

func (m *Manager) remove(name string, ms []Mount) error {
	if err := share.ValidName(name); err != nil {
		return err
	}
	dst := m.Path(name)
	delete(m.mounted, name)
	if _, ok := mountAt(ms, dst); ok {
		if err := syscall.Unmount(dst, 0); err != nil {
			if !errors.Is(err, syscall.EBUSY) {
				return fmt.Errorf("unmount %s: %w", dst, err)
			}
			// A virtiofsd still has it open: detach it from the tree; it
			// goes away when the last user closes it.
			if err := syscall.Unmount(dst, syscall.MNT_DETACH); err != nil {
				return fmt.Errorf("unmount %s: %w", dst, err)
			}
		}
		m.Log.Info("read-only view of the share unmounted", "domain", name, "path", dst)
	}
	if err := os.Remove(dst); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove mount point %s: %w", dst, err)
	}
	return nil
}

// Reconcile makes the mounts under ro_root exactly those of names: it
// mounts the missing ones and unmounts the others (also those left by an
// earlier run). It goes on after an error and returns them all.
func (m *Manager) Reconcile(names []string) error {
	ms, err := m.Table()
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	want := map[string]bool{}
	var errs []error
	for _, n := range names {
		want[n] = true
		if err := m.ensure(n, ms); err != nil {
			errs = append(errs, fmt.Errorf("domain %s: %w", n, err))
		}
	}
	for _, n := range m.under(ms) {
		if !want[n] {
			if err := m.remove(n, ms); err != nil {
				errs = append(errs, fmt.Errorf("domain %s: %w", n, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Mounted lists the names with a mount under ro_root, sorted.
func (m *Manager) Mounted() ([]string, error) {
	ms, err := m.Table()
	if err != nil {
		return nil, err
	}
	return m.under(ms), nil
}

func (m *Manager) under(ms []Mount) []string {
	root := filepath.Clean(m.RORoot)
	var out []string
	for _, mt := range ms {
		if filepath.Dir(filepath.Clean(mt.Point)) == root {
			out = append(out, filepath.Base(mt.Point))
		}
	}
	sort.Strings(out)
	return out
}

// Status says whether path is a read-only mount point.
func Status(ms []Mount, path string) (mounted, readOnly bool) {
	mt, ok := mountAt(ms, path)
	return ok, ok && mt.ReadOnly
}

// mountAt returns the last (topmost) mount on exactly path.
func mountAt(ms []Mount, path string) (Mount, bool) {
	path = filepath.Clean(path)
	var cur Mount
	found := false
	for _, mt := range ms {
		if filepath.Clean(mt.Point) == path {
			cur, found = mt, true
		}
	}
	return cur, found
}

// mkdirReal creates dir (0755) and checks that it is a directory, not a
// symlink.
func mkdirReal(dir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		if errors.Is(err, fs.ErrNotExist) {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("create %s: %w", dir, err)
			}
		} else {
			return fmt.Errorf("create %s: %w", dir, err)
		}
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is a %s, not a directory: remove it", dir, fi.Mode().Type())
	}
	return nil
}

// sameDir reports whether a and b are the same directory (device and inode).
func sameDir(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}
