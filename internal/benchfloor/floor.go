// Package benchfloor is the syscall floor of a host tick: the least a
// program must do to read the same inputs and write the same files as one
// tick of virtwatt-host, used by the ABBA benchmark (hostagent's
// BenchmarkABBA, `make bench`) as the yardstick the real tick is compared
// with.
//
// Per tick the floor reads every powercap energy_uj file and /proc/stat
// (open, read, close each: sysfs and procfs files must be reopened to be
// re-read safely), writes the state file (openat O_CREAT|O_EXCL, write,
// fsync, close, renameat) and, for every VM, rewrites the files the agent
// rewrites every tick (openat2 O_CREAT|O_EXCL with RESOLVE_BENEATH and
// RESOLVE_NO_SYMLINKS, write, close, renameat: four syscalls per file)
// relative to the VM's directory, opened once at Open
// (O_PATH|O_DIRECTORY|O_NOFOLLOW), spread over as many goroutines as the
// agent has share writers. One descriptor per VM, not one per directory
// written, so that 10,000 VMs fit under a 20,000 open files limit; the
// path walk into a zone directory costs no extra syscall. It keeps the
// agent's security properties (no link followed, nothing created outside
// the VM's directory, atomic replace; renameat alone walks the zone
// directory by name, which only a swap between the create and the rename
// could exploit: good enough for a yardstick) and nothing else: no parsing
// beyond a number, no encoding (each file's bytes are taken once, at Open,
// from what is there), no checks of static files.
//
// It imports only the standard library and golang.org/x/sys/unix, so that
// it measures the kernel's cost, not a library's.
package benchfloor

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// Layout names the files a tick touches.
type Layout struct {
	EnergyFiles []string // powercap energy_uj files, read each tick
	ProcStat    string   // /proc/stat, read each tick
	StateFile   string   // written each tick with fsync + rename
	ShareRoot   string   // holds one directory per VM
	VMs         []string // VM directory names under ShareRoot
	// Files are the paths, relative to each VM's directory, rewritten every
	// tick (the record and the zones' energy_uj files). Each must exist at
	// Open: its content then is what the floor writes back every tick.
	Files   []string
	Writers int // goroutines the VMs' writes are spread over (at least 1)
}

// Floor runs floor ticks on one Layout. Not safe for concurrent ticks.
type Floor struct {
	l        Layout
	stateDir int
	stateTmp string
	state    []byte
	rootFD   int
	fds      []int    // every directory fd held, closed by Close
	vms      [][]file // per VM, the files rewritten
	errs     []error
	buf      [4096]byte
}

type file struct {
	dir  int    // held directory fd
	name string // path beneath dir
	tmp  string // temporary path beneath dir, in name's directory
	data []byte
}

// Open holds the share root and every VM's directory, and takes the content to write back from the files as they
// are now (the state file too: it must exist).
func Open(l Layout) (*Floor, error) {
	if l.Writers < 1 {
		l.Writers = 1
	}
	f := &Floor{l: l, stateDir: -1, rootFD: -1}
	fail := func(err error) (*Floor, error) { f.Close(); return nil, err }
	var err error
	if f.state, err = readFile(unix.AT_FDCWD, l.StateFile); err != nil {
		return fail(err)
	}
	if f.stateDir, err = openPath(unix.AT_FDCWD, filepath.Dir(l.StateFile)); err != nil {
		return fail(err)
	}
	f.fds = append(f.fds, f.stateDir)
	f.stateTmp = "." + filepath.Base(l.StateFile) + ".floor"
	if f.rootFD, err = openPath(unix.AT_FDCWD, l.ShareRoot); err != nil {
		return fail(err)
	}
	f.fds = append(f.fds, f.rootFD)
	for _, vm := range l.VMs {
		vfd, err := openPath(f.rootFD, vm)
		if err != nil {
			return fail(fmt.Errorf("%s: %w", filepath.Join(l.ShareRoot, vm), err))
		}
		f.fds = append(f.fds, vfd)
		var fs []file
		for _, p := range l.Files {
			data, err := readFile(vfd, p)
			if err != nil {
				return fail(fmt.Errorf("%s: %w", filepath.Join(l.ShareRoot, vm, p), err))
			}
			tmp := filepath.Join(filepath.Dir(p), "."+filepath.Base(p)+".floor")
			fs = append(fs, file{dir: vfd, name: p, tmp: tmp, data: data})
		}
		f.vms = append(f.vms, fs)
	}
	f.errs = make([]error, l.Writers)
	return f, nil
}

// Tick does one tick's I/O: the reads, the state file, then every VM's
// files over Writers goroutines. It returns the first error.
func (f *Floor) Tick() error {
	for _, p := range f.l.EnergyFiles {
		n, err := f.read(p)
		if err != nil {
			return err
		}
		if _, err := strconv.ParseUint(string(trimNL(f.buf[:n])), 10, 64); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	if _, err := f.read(f.l.ProcStat); err != nil {
		return err
	}
	if err := replace(f.stateDir, f.stateTmp, filepath.Base(f.l.StateFile), f.state, true); err != nil {
		return fmt.Errorf("%s: %w", f.l.StateFile, err)
	}
	w := f.l.Writers
	if w == 1 {
		return f.writeVMs(0, 1)
	}
	var wg sync.WaitGroup
	for k := range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.errs[k] = f.writeVMs(k, w)
		}()
	}
	wg.Wait()
	return errors.Join(f.errs...)
}

// writeVMs writes the files of every VM i with i%n == k.
func (f *Floor) writeVMs(k, n int) error {
	for i := k; i < len(f.vms); i += n {
		for _, fl := range f.vms[i] {
			if err := replace(fl.dir, fl.tmp, fl.name, fl.data, false); err != nil {
				return fmt.Errorf("%s/%s: %w", f.l.VMs[i], fl.name, err)
			}
		}
	}
	return nil
}

// Close releases every directory held.
func (f *Floor) Close() error {
	for _, fd := range f.fds {
		unix.Close(fd)
	}
	f.fds = nil
	return nil
}

// read reads the start of path into f.buf: open, read, close.
func (f *Floor) read(path string) (int, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", path, err)
	}
	n, err := unix.Read(fd, f.buf[:])
	unix.Close(fd)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	return n, nil
}

// beneath is how the floor resolves paths below a held directory: never
// through a symbolic link, never above it.
const beneath = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

// replace writes data to tmp (created exclusively, beneath dir, never
// through a link) and renames it over name.
func replace(dir int, tmp, name string, data []byte, sync bool) error {
	fd, err := unix.Openat2(dir, tmp, &unix.OpenHow{
		Flags: unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL | unix.O_CLOEXEC, Mode: 0o644, Resolve: beneath})
	if err != nil {
		return err
	}
	if _, err := unix.Write(fd, data); err != nil {
		unix.Close(fd)
		unix.Unlinkat(dir, tmp, 0)
		return err
	}
	if sync {
		if err := unix.Fsync(fd); err != nil {
			unix.Close(fd)
			unix.Unlinkat(dir, tmp, 0)
			return err
		}
	}
	if err := unix.Close(fd); err != nil {
		unix.Unlinkat(dir, tmp, 0)
		return err
	}
	return unix.Renameat(dir, tmp, dir, name)
}

func openPath(dir int, path string) (int, error) {
	fd, err := unix.Openat(dir, path, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open directory %s: %w", path, err)
	}
	return fd, nil
}

// readFile reads a whole small regular file beneath dir (at Open only).
func readFile(dir int, path string) ([]byte, error) {
	how := &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_CLOEXEC, Resolve: beneath}
	if dir == unix.AT_FDCWD {
		how.Resolve = unix.RESOLVE_NO_SYMLINKS
	}
	fd, err := unix.Openat2(dir, path, how)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer unix.Close(fd)
	var out []byte
	buf := make([]byte, 64<<10)
	for {
		n, err := unix.Read(fd, buf)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		if n == 0 {
			return out, nil
		}
		out = append(out, buf[:n]...)
	}
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}
