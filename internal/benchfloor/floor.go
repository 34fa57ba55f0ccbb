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
// relative to the file's directory, held open from Open
// (O_PATH|O_DIRECTORY|O_NOFOLLOW), spread over as many goroutines as the
// agent has share writers. Like the agent's share.Writer it holds every
// directory it writes in (the VM's and each zone's) up to a budget
// (Layout.MaxHeld, the agent's share.DirBudget), and opens the others for
// each tick (openat O_PATH, close: two syscalls per directory), so that
// with the same budget both do the same opens. It keeps the agent's
// security properties (no link followed, nothing created outside the VM's
// directory, atomic replace) and nothing else: no parsing beyond a
// number, no encoding (each file's bytes are taken once, at Open, from
// what is there), no checks of static files.
//
// It imports only the standard library and golang.org/x/sys/unix, so that
// it measures the kernel's cost, not a library's.
package benchfloor

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
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
	// MaxHeld is how many directories (VM and zone directories together)
	// stay open across ticks, the first ones in VM order; the others are
	// opened for each tick. 0: every one is held.
	MaxHeld int
}

// Floor runs floor ticks on one Layout. Not safe for concurrent ticks.
type Floor struct {
	l        Layout
	stateDir int
	stateTmp string
	state    []byte
	rootFD   int
	fds      []int // every directory fd held, closed by Close
	dirNames []string
	vms      []vmFiles
	held     int // directories held
	errs     []error
	buf      [4096]byte
}

// vmFiles is one VM's directories and the files rewritten in them.
type vmFiles struct {
	dirs  []int // fd of each directory, -1 when opened per tick; [0] the VM's
	files []file
}

type file struct {
	dir  int    // index in vmFiles.dirs (and Floor.dirNames)
	name string // name in that directory
	tmp  string // temporary name in that directory
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
	// The directories of a VM: its own ("."), then each file's, once.
	f.dirNames = []string{"."}
	var fileDir []int
	for _, p := range l.Files {
		d := filepath.Dir(p)
		if strings.Contains(d, "/") {
			return fail(fmt.Errorf("file %s: at most one directory below the VM's", p))
		}
		k := slices.Index(f.dirNames, d)
		if k < 0 {
			k = len(f.dirNames)
			f.dirNames = append(f.dirNames, d)
		}
		fileDir = append(fileDir, k)
	}
	for _, vm := range l.VMs {
		v := vmFiles{dirs: make([]int, len(f.dirNames))}
		var fds [maxDirs]int
		err := f.openDirs(&v, vm, fds[:len(f.dirNames)], true)
		if err != nil {
			return fail(err)
		}
		for i, p := range l.Files {
			data, err := readFile(fds[fileDir[i]], filepath.Base(p))
			if err != nil {
				f.closeUnheld(&v, fds[:len(f.dirNames)])
				return fail(fmt.Errorf("%s: %w", filepath.Join(l.ShareRoot, vm, p), err))
			}
			tmp := "." + filepath.Base(p) + ".floor"
			v.files = append(v.files, file{dir: fileDir[i], name: filepath.Base(p), tmp: tmp, data: data})
		}
		f.closeUnheld(&v, fds[:len(f.dirNames)])
		f.vms = append(f.vms, v)
	}
	f.errs = make([]error, l.Writers)
	return f, nil
}

// maxDirs bounds the directories per VM (the agent writes in 3).
const maxDirs = 8

// Held is how many directories the floor holds across ticks.
func (f *Floor) Held() int { return f.held }

// openDirs fills fds with the descriptors of v's directories: the held
// ones, and the others opened now (first, at Open, they are held while
// MaxHeld allows).
func (f *Floor) openDirs(v *vmFiles, vm string, fds []int, first bool) error {
	if len(fds) > maxDirs {
		return fmt.Errorf("%d directories per VM, at most %d", len(fds), maxDirs)
	}
	for k, name := range f.dirNames {
		if !first && v.dirs[k] >= 0 {
			fds[k] = v.dirs[k]
			continue
		}
		parent, path := f.rootFD, vm
		if k > 0 {
			parent, path = fds[0], name
		}
		fd, err := openPath(parent, path)
		if err != nil {
			f.closeUnheld(v, fds[:k])
			return fmt.Errorf("%s: %w", filepath.Join(f.l.ShareRoot, vm, name), err)
		}
		fds[k] = fd
		if first {
			v.dirs[k] = -1
			if f.l.MaxHeld <= 0 || f.held < f.l.MaxHeld {
				v.dirs[k] = fd
				f.fds = append(f.fds, fd)
				f.held++
			}
		}
	}
	return nil
}

// closeUnheld closes the descriptors of fds that v does not hold.
func (f *Floor) closeUnheld(v *vmFiles, fds []int) {
	for k, fd := range fds {
		if v.dirs[k] != fd {
			unix.Close(fd)
		}
	}
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
	var fds [maxDirs]int
	nd := len(f.dirNames)
	for i := k; i < len(f.vms); i += n {
		v := &f.vms[i]
		if err := f.openDirs(v, f.l.VMs[i], fds[:nd], false); err != nil {
			return err
		}
		for _, fl := range v.files {
			if err := replace(fds[fl.dir], fl.tmp, fl.name, fl.data, false); err != nil {
				f.closeUnheld(v, fds[:nd])
				return fmt.Errorf("%s/%s: %w", f.l.VMs[i], filepath.Join(f.dirNames[fl.dir], fl.name), err)
			}
		}
		f.closeUnheld(v, fds[:nd])
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
