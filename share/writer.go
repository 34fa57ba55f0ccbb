package share

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// Writer writes VMs' share directories under one share root. It is used by
// the host agent and is safe for use by one goroutine at a time.
//
// Safety: the share root is opened with os.OpenRoot, so nothing the
// writer does can reach outside it (the root's own path is the operator's,
// resolved once at start). Inside it, the writer treats every VM directory
// as written by a stranger: it never follows a symbolic link, not even to
// read (ReadRecord), and it refuses (ErrUnsafe, naming the path) to write
// through a symlink or a non-directory found where it expects a directory,
// or to replace a symlink or non-regular file found where it writes a
// file. It neither follows nor deletes such a thing; Remove deletes a VM
// directory, unlinking any symlink in it without following it and never
// crossing into another file system mounted inside.
//
// Modes: every file written gets mode 0644 and every directory it writes
// into mode 0755, set explicitly (whatever the umask, and whatever a guest
// did to the previous file or directory), so the share stays readable by
// whoever serves it to the guest.
//
// Atomicity: every file is written to a temporary file (O_EXCL, random
// name, same directory) and renamed over its target, so a reader sees the
// old content or the new, never a torn or empty file. On error the
// temporary file is removed and the old file stays intact.
//
// Durability: files are not fsynced. The share is a live view the host
// rewrites every tick from its own state (which lives outside the share
// and is what must survive a crash); an fsync per file per VM per second
// would cost far more than the data is worth. After a power loss a file
// could be empty or stale until the first tick after restart rewrites it
// (ext4 and XFS flush a file renamed over another before the rename
// anyway), and the reader rejects an empty or garbled file (ErrEmpty,
// ErrGarbled) rather than taking its value. For the same reason a tmpfs
// (under /run, say) suits the share root best: on ext4 each rename over an
// existing file also starts writeback of the new one (auto_da_alloc).
type Writer struct {
	root  *os.Root
	dir   string // the root's path, for messages
	write writeFunc

	// static caches the name and max_energy_range_uj files written, so
	// that they are rewritten only when missing, replaced or different.
	static map[staticKey]staticFile

	rec bytes.Buffer
	enc *json.Encoder
	num []byte
}

type staticKey struct{ vm, zone, file string }

type staticFile struct {
	content string
	fi      fs.FileInfo // of the file as written
}

// NewWriter opens the share root, creating it (mode 0755) when missing.
// An existing root keeps its mode.
func NewWriter(root string) (*Writer, error) {
	_, err := os.Stat(root)
	created := errors.Is(err, fs.ErrNotExist)
	if err := os.MkdirAll(root, dirPerm); err != nil {
		return nil, fmt.Errorf("creating share root: %w", err)
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("opening share root: %w", err)
	}
	if created { // MkdirAll's mode went through the umask
		if err := r.Chmod(".", dirPerm); err != nil {
			r.Close()
			return nil, fmt.Errorf("chmod share root %s: %w", root, err)
		}
	}
	if err := probeWrite(r); err != nil {
		r.Close()
		return nil, err
	}
	w := &Writer{
		root:   r,
		dir:    root,
		write:  plainWrite,
		static: make(map[staticKey]staticFile),
		num:    make([]byte, 0, 24),
	}
	w.enc = json.NewEncoder(&w.rec)
	w.enc.SetEscapeHTML(false)
	return w, nil
}

// EnsureDir creates <root>/<name>/ (mode 0755) and the tree's zone
// directories (PackageZoneDir, CoreZoneDir) where missing. It refuses an
// invalid name (ValidName) and, with ErrUnsafe, anything in the way that
// is not a real directory.
func (w *Writer) EnsureDir(name string) error {
	if err := ValidName(name); err != nil {
		return err
	}
	vm, err := openDir(w.root, name, filepath.Join(w.dir, name), true)
	if err != nil {
		return err
	}
	defer vm.Close()
	for _, z := range []string{PackageZoneDir, CoreZoneDir} {
		if err := ensureDir(vm, z, filepath.Join(w.dir, name, z)); err != nil {
			return err
		}
	}
	return nil
}

// Write publishes rec into the VM directory name (created when missing):
//
//	PackageZoneDir/{name,energy_uj,max_energy_range_uj}
//	CoreZoneDir/ (empty)
//	DRAMZoneDir/{name,energy_uj,max_energy_range_uj}   when hasDRAM
//	RecordFile (rec as JSON)
//
// energy_uj is the zone's TotalUJ modulo TreeMaxRangeUJ, as a real RAPL
// counter wraps. The record is written last, so a reader that sees
// sequence N finds a tree at least as new. rec must pass Validate, and
// must have a ZoneDRAM entry when hasDRAM is set. A DRAMZoneDir left from
// earlier writes is not removed when hasDRAM turns false (its counter
// simply stops). See Writer for safety, atomicity and durability.
func (w *Writer) Write(name string, rec *Record, hasDRAM bool) error {
	if err := ValidName(name); err != nil {
		return err
	}
	if err := rec.Validate(); err != nil {
		return fmt.Errorf("share: not writing record for %q: %w", name, err)
	}
	dram, ok := rec.Zones[ZoneDRAM]
	if hasDRAM && !ok {
		return fmt.Errorf("share: not writing record for %q: dram is measured but the record has no %q zone", name, ZoneDRAM)
	}
	w.rec.Reset()
	if err := w.enc.Encode(rec); err != nil {
		return fmt.Errorf("share: encoding record for %q: %w", name, err)
	}

	vmPath := filepath.Join(w.dir, name)
	vm, err := openDir(w.root, name, vmPath, true)
	if err != nil {
		return err
	}
	defer vm.Close()

	if err := w.writeZone(vm, name, vmPath, PackageZoneDir, PackageZoneName, rec.Zones[ZonePackage]); err != nil {
		return err
	}
	if err := ensureDir(vm, CoreZoneDir, filepath.Join(vmPath, CoreZoneDir)); err != nil {
		return err
	}
	if hasDRAM {
		if err := w.writeZone(vm, name, vmPath, DRAMZoneDir, DRAMZoneName, dram); err != nil {
			return err
		}
	}
	return writeAtomic(vm, RecordFile, filepath.Join(vmPath, RecordFile), w.rec.Bytes(), w.write)
}

// writeZone writes one zone directory of the tree.
func (w *Writer) writeZone(vm *os.Root, name, vmPath, zone, zoneName string, e ZoneEnergy) error {
	zonePath := filepath.Join(vmPath, zone)
	z, err := openDir(vm, zone, zonePath, true)
	if err != nil {
		return err
	}
	defer z.Close()
	if err := w.writeStatic(z, staticKey{name, zone, NameFile}, zonePath, zoneName+"\n"); err != nil {
		return err
	}
	if err := w.writeStatic(z, staticKey{name, zone, MaxRangeFile}, zonePath, maxRangeText); err != nil {
		return err
	}
	w.num = strconv.AppendUint(w.num[:0], e.TotalUJ()%TreeMaxRangeUJ, 10)
	w.num = append(w.num, '\n')
	return writeAtomic(z, EnergyFile, filepath.Join(zonePath, EnergyFile), w.num, w.write)
}

var maxRangeText = strconv.FormatUint(TreeMaxRangeUJ, 10) + "\n"

// writeStatic writes a file whose content rarely changes, only when it is
// missing, different from what was last written, or no longer the file
// that was written (replaced, rewritten or recreated by someone else).
func (w *Writer) writeStatic(dir *os.Root, key staticKey, dirPath, content string) error {
	display := filepath.Join(dirPath, key.file)
	fi, err := checkTarget(dir, key.file, display)
	if err != nil {
		return err
	}
	if c, ok := w.static[key]; ok && fi != nil && c.content == content && unchanged(c.fi, fi) {
		return nil
	}
	delete(w.static, key)
	if err := writeAtomic(dir, key.file, display, []byte(content), w.write); err != nil {
		return err
	}
	if fi, err = dir.Lstat(key.file); err == nil {
		w.static[key] = staticFile{content: content, fi: fi}
	}
	return nil
}

// unchanged reports whether now is still the file that was written: the
// same inode, size, mode and modification time (a file rewritten in place
// keeps its inode but not its mtime; one chmod'ed keeps its mtime but not
// its mode).
func unchanged(was, now fs.FileInfo) bool {
	return os.SameFile(was, now) && was.Size() == now.Size() && was.Mode() == now.Mode() &&
		was.ModTime().Equal(now.ModTime())
}

// Remove deletes the VM directory name and everything in it (used to
// prune VMs that no longer exist). Symbolic links inside are unlinked,
// never followed, and nothing on another file system is touched: a
// directory with another file system mounted in it (a tmpfs, a bind mount)
// is left with everything in it, and the error (ErrUnsafe) names the
// mount point; the rest of the VM directory is removed. A missing
// directory is not an error.
func (w *Writer) Remove(name string) error {
	if err := ValidName(name); err != nil {
		return err
	}
	for k := range w.static {
		if k.vm == name {
			delete(w.static, k)
		}
	}
	d, err := w.root.Open(".")
	if err != nil {
		return fmt.Errorf("removing %s: %w", filepath.Join(w.dir, name), err)
	}
	defer d.Close()
	rc, err := d.SyscallConn()
	if err != nil {
		return fmt.Errorf("removing %s: %w", filepath.Join(w.dir, name), err)
	}
	var rerr error
	err = rc.Control(func(fd uintptr) {
		root, err := statID(int(fd), "")
		if err != nil {
			rerr = fmt.Errorf("removing %s: statx share root: %w", filepath.Join(w.dir, name), err)
			return
		}
		rerr = removeTree(int(fd), name, filepath.Join(w.dir, name), root, 0)
	})
	if err != nil {
		return fmt.Errorf("removing %s: %w", filepath.Join(w.dir, name), err)
	}
	return rerr
}

// ReadRecord reads the record in the VM directory name (the host reads an
// existing one at start, to compare it with its state) the way every
// share file is read (Dir.ReadFile): never following a symbolic link (the
// VM directory or the record being one gives ErrUnsafe), never blocking
// on a FIFO or device, only a regular file of at most MaxFileSize bytes,
// beneath the share root. A missing directory or record gives an error
// matching fs.ErrNotExist. Errors name the file.
func (w *Writer) ReadRecord(name string) (*Record, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	d, err := OpenDir(w.dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.readRecord(name + "/" + RecordFile)
}

// List returns the names of the VM directories under the root, sorted.
// Anything else found there (files, symbolic links) is not listed.
func (w *Writer) List() ([]string, error) {
	d, err := w.root.Open(".")
	if err != nil {
		return nil, fmt.Errorf("listing share root %s: %w", w.dir, err)
	}
	defer d.Close()
	entries, err := d.ReadDir(-1)
	if err != nil {
		return nil, fmt.Errorf("listing share root %s: %w", w.dir, err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && ValidName(e.Name()) == nil {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}

// Close releases the share root. The Writer cannot be used afterwards.
func (w *Writer) Close() error {
	if err := w.root.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		return err
	}
	return nil
}
