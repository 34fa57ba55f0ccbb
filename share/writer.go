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

	"golang.org/x/sys/unix"
)

// Writer writes VMs' share directories under one share root. It is used by
// the host agent and is safe for use by one goroutine at a time; several
// Writers on one root (the host agent runs four, each VM always through
// the same one) draw distinct temporary names.
//
// Safety: the share root is opened once, by its path (the operator's,
// resolved at start), and everything beneath it is reached relative to
// that descriptor, one component at a time with O_NOFOLLOW, so nothing the
// writer does can reach outside it. Inside it, the writer treats every VM
// directory as written by a stranger: it never follows a symbolic link,
// not even to read (ReadRecord), and it refuses (ErrUnsafe, naming the
// path) to write through a symlink or a non-directory found where it
// expects a directory, or to replace a symlink or non-regular file found
// where it writes a file. It neither follows nor deletes such a thing;
// Remove deletes a VM directory, unlinking any symlink in it without
// following it and never crossing into another file system mounted
// inside.
//
// Held directories and the full check: a Writer keeps each VM's directory
// and its written zone directories open across writes (3 descriptors per
// VM with dram, 2 without; Close and Remove release them), so that a
// steady-state write is, per file, the floor: openat(dir, tmp,
// O_CREAT|O_EXCL|O_NOFOLLOW) + write + close + renameat(dir, tmp, dir,
// name), 12 system calls per VM with dram, and no allocation. It holds
// at most what its DirBudget allows (shared by the Writers of the
// process, from RLIMIT_NOFILE: ProcessDirBudget); a directory beyond it
// is opened for each write, O_PATH|O_NOFOLLOW one component at a time
// from the root, and closed when the write ends (two more system calls
// per directory, no allocation), so that many VMs under a low open-files
// limit cost time, not EMFILE. A write that finds the process out of
// descriptors anyway (the rest of the process grew into the budget)
// gives held directories back, lowers the budget to what stays held and
// is done again: it is not lost while the Writer has descriptors to
// spare. Every
// CheckEvery-th write of a VM (and its first one, and any write whose hot
// path meets a changed tree) is a full check instead: each directory is
// looked at by name from its parent (lstat), reopened when it is no longer
// the one held, refused when it is a link or not a directory, given 0755
// back; each file's target is looked at and refused unless a regular file;
// the static files (name, max_energy_range_uj) are rewritten when missing,
// replaced, rewritten or chmod'ed. The trade-off, between two full checks
// (at most CheckEvery-1 writes):
//   - what a stranger does is noticed late, never obeyed: a write goes
//     into the directory held, never through a name, so a symlink or file
//     planted where a directory was (after a rename of the directory: a
//     removed directory makes the next write fail with ENOENT, which
//     triggers the full check at once) is neither followed nor written
//     into; the write lands in the renamed directory, beneath the root,
//     and the full check then refuses the planted thing or takes the new
//     directory;
//   - a symlink, FIFO or device planted at energy_uj or the record's name
//     is replaced by the new file (rename never follows nor opens it)
//     instead of refused, and a directory planted there fails the rename
//     and is refused at once;
//   - a static file removed or tampered with, or a directory chmod'ed, is
//     restored at the next full check, not the next write.
//
// Modes: every file written gets mode 0644 and every directory it writes
// into mode 0755, set explicitly (whatever the umask or a default ACL, and
// whatever a guest did to the previous file or directory), so the share
// stays readable by whoever serves it to the guest. A full check looks at
// the mode a new file gets in each directory and, where it is not 0644,
// every file created there until the next full check gets an fchmod.
//
// Atomicity: every file is written to a temporary file (O_EXCL, a name
// drawn at random per Writer, same directory) and renamed over its target,
// so a reader sees the old content or the new, never a torn or empty
// file. On error the temporary file is removed and the old file stays
// intact.
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
	rootfd int    // the share root; -1 once closed
	dir    string // the root's path, for messages
	write  writeFunc
	tmp    []byte // this Writer's temporary name, NUL-terminated

	// CheckEvery is how often a VM's write is a full check (see Writer):
	// 1 (or less) checks every write. NewWriter sets DefaultCheckEvery.
	CheckEvery int

	vms  map[string]*vmDirs
	dirs *DirBudget // places for held directories (SetDirBudget)
	// writes counts Write and EnsureDir calls; lastSweep is writes at the
	// last sweep (see sweep).
	writes, lastSweep uint64

	recJSON []byte   // the record being written
	keys    []string // scratch for appendRecordJSON
	rec     bytes.Buffer
	enc     *json.Encoder
	num     []byte
}

// DefaultCheckEvery is Writer.CheckEvery as NewWriter sets it: at a 1 s
// tick, a stranger's change to a share is noticed within 10 s.
const DefaultCheckEvery = 10

// NewWriter opens the share root, creating it (mode 0755) when missing.
// An existing root keeps its mode.
func NewWriter(root string) (*Writer, error) {
	_, err := os.Stat(root)
	created := errors.Is(err, fs.ErrNotExist)
	if err := os.MkdirAll(root, dirPerm); err != nil {
		return nil, fmt.Errorf("creating share root: %w", err)
	}
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening share root: %w", &fs.PathError{Op: "open", Path: root, Err: err})
	}
	if created { // MkdirAll's mode went through the umask
		if err := unix.Fchmod(fd, dirPerm); err != nil {
			closeFD(fd)
			return nil, fmt.Errorf("chmod share root %s: %w", root, err)
		}
	}
	if err := probeWrite(fd, root); err != nil {
		closeFD(fd)
		return nil, err
	}
	w := &Writer{
		rootfd:     fd,
		dir:        root,
		write:      plainWrite,
		tmp:        claimTempName(),
		CheckEvery: DefaultCheckEvery,
		vms:        make(map[string]*vmDirs),
		dirs:       ProcessDirBudget(),
		num:        make([]byte, 0, 24),
	}
	w.enc = json.NewEncoder(&w.rec)
	w.enc.SetEscapeHTML(false)
	return w, nil
}

func plainWrite(fd int, b []byte) error { return writeAll(fd, b) }

// SetDirBudget makes b the budget of the directories w holds open across
// writes (NewWriter sets ProcessDirBudget()); Writers on one root share
// one. What w held is released first.
func (w *Writer) SetDirBudget(b *DirBudget) {
	for _, d := range w.vms {
		d.close(w.dirs)
	}
	w.dirs = b
}

var errClosed = errors.New("share: writer is closed")

// vm returns what is held for the VM directory name.
func (w *Writer) vm(name string) *vmDirs {
	w.writes++
	w.sweep()
	d := w.vms[name]
	if d == nil {
		d = newVMDirs(name)
		w.vms[name] = d
	}
	d.lastWrite = w.writes
	return d
}

// sweep releases what is held for VMs not written since the last sweep,
// once there were at least two writes per VM held since then (two ticks,
// in the host agent): a VM pruned through another Writer, or no longer
// written, does not keep its descriptors. Its next write, if any, is a
// full check.
func (w *Writer) sweep() {
	if w.writes-w.lastSweep < uint64(2*len(w.vms))+64 {
		return
	}
	for name, d := range w.vms {
		if d.lastWrite <= w.lastSweep {
			d.close(w.dirs)
			delete(w.vms, name)
		}
	}
	w.lastSweep = w.writes
}

// EnsureDir creates <root>/<name>/ (mode 0755) and the tree's zone
// directories (PackageZoneDir, CoreZoneDir) where missing. It refuses an
// invalid name (ValidName) and, with ErrUnsafe, anything in the way that
// is not a real directory.
func (w *Writer) EnsureDir(name string) error {
	if err := ValidName(name); err != nil {
		return err
	}
	if w.rootfd < 0 {
		return errClosed
	}
	d := w.vm(name)
	defer d.release()
	vmPath := filepath.Join(w.dir, name)
	err := w.holdDir(w.rootfd, d, 0, name, vmPath)
	if err == nil {
		err = w.holdDir(d.vm, d, 1+zonePackage, PackageZoneDir, filepath.Join(vmPath, PackageZoneDir))
	}
	if err == nil {
		err = w.ensureDir(d.vm, CoreZoneDir, filepath.Join(vmPath, CoreZoneDir))
	}
	if err != nil {
		d.close(w.dirs)
	}
	return err
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
// simply stops). See Writer for safety, the full check, atomicity and
// durability.
func (w *Writer) Write(name string, rec *Record, hasDRAM bool) error {
	if err := ValidName(name); err != nil {
		return err
	}
	if err := rec.Validate(); err != nil {
		return fmt.Errorf("share: not writing record for %q: %w", name, err)
	}
	if _, ok := rec.Zones[ZoneDRAM]; hasDRAM && !ok {
		return fmt.Errorf("share: not writing record for %q: dram is measured but the record has no %q zone", name, ZoneDRAM)
	}
	if w.rootfd < 0 {
		return errClosed
	}
	var ok bool
	w.recJSON, w.keys, ok = appendRecordJSON(w.recJSON[:0], rec, w.keys)
	if !ok { // encoding/json has the last word (and the error)
		w.rec.Reset()
		if err := w.enc.Encode(rec); err != nil {
			return fmt.Errorf("share: encoding record for %q: %w", name, err)
		}
		w.recJSON = append(w.recJSON[:0], w.rec.Bytes()...)
	}
	d := w.vm(name)
	defer d.release()
	err := w.writeVM(d, name, rec, hasDRAM)
	// Out of descriptors: give held directories back and write again,
	// rather than lose the write while the Writer sits on descriptors it
	// can spare (a write needs at most writeFDs at once; each shed frees
	// at least one).
	for try := 0; try < writeFDs && outOfFDs(err) && w.shed(d); try++ {
		err = w.writeVM(d, name, rec, hasDRAM)
	}
	return err
}

// writeVM is one attempt at Write's work on d, through the hot path when
// d is due no full check.
func (w *Writer) writeVM(d *vmDirs, name string, rec *Record, hasDRAM bool) error {
	if d.untilCheck > 0 && (!hasDRAM || d.dram) {
		file, err := w.openHot(d, hasDRAM)
		if err == nil {
			file, err = w.writeHeld(d, rec, hasDRAM)
		}
		if err == nil {
			d.untilCheck--
			return nil
		}
		if !treeChanged(err) {
			d.untilCheck = 0
			w.noteFDs(err)
			return fmt.Errorf("writing %s: %w", w.heldPath(name, file), err)
		}
		// A directory went, or a name changed type: look again.
		d.release()
	}
	if err := w.writeChecked(d, name, rec, hasDRAM); err != nil {
		d.close(w.dirs)
		w.noteFDs(err)
		return err
	}
	d.untilCheck, d.dram = w.CheckEvery-1, hasDRAM
	return nil
}

// writeFDs is the most descriptors one write holds at once: the VM
// directory, its zone directories, the temporary file.
const writeFDs = 1 + nZones + 1

// shed closes held directories after a write of d ran out of descriptors
// (EMFILE, ENFILE: the process's other descriptors grew into the budget):
// d's, or when d holds none, another VM's of this Writer; the budget is
// lowered to what stays held (DirBudget.exhausted), so that the VM shed
// is written through the per-write path from then on (its next write is
// a full check). It reports whether a descriptor was freed.
func (w *Writer) shed(d *vmDirs) bool {
	freed := d.heldFDs()
	d.close(w.dirs)
	for _, o := range w.vms {
		if freed > 0 {
			break
		}
		if freed = o.heldFDs(); freed > 0 {
			o.close(w.dirs)
		}
	}
	w.dirs.exhausted()
	return freed > 0
}

// noteFDs lowers the budget to what is held when err says the process
// ran out of descriptors (a temporary file, a directory opened for one
// write): the budget was more than the process can spare.
func (w *Writer) noteFDs(err error) {
	if outOfFDs(err) {
		w.dirs.exhausted()
	}
}

// Files written (and directories opened) on the hot path, for messages.
const (
	heldPackageEnergy = iota
	heldDRAMEnergy
	heldRecord
	openVMDir
	openPackageDir
	openDRAMDir
)

func (w *Writer) heldPath(name string, file int) string {
	switch file {
	case heldPackageEnergy:
		return filepath.Join(w.dir, name, PackageZoneDir, EnergyFile)
	case heldDRAMEnergy:
		return filepath.Join(w.dir, name, DRAMZoneDir, EnergyFile)
	case openVMDir:
		return filepath.Join(w.dir, name)
	case openPackageDir:
		return filepath.Join(w.dir, name, PackageZoneDir)
	case openDRAMDir:
		return filepath.Join(w.dir, name, DRAMZoneDir)
	}
	return filepath.Join(w.dir, name, RecordFile)
}

var (
	cPackageZoneDir = cname(PackageZoneDir)
	cDRAMZoneDir    = cname(DRAMZoneDir)
)

// openHot opens, for the hot path, the directories not held (the VM's
// first write after a full check that found the budget spent, or every
// write of a VM beyond it): one component at a time from the root, never
// following a link, so the write lands beneath the root in a real
// directory, as in a held one. A directory opened when the budget has a
// place is kept (the next full check looks at it by name); one opened
// without is closed when the write ends. It returns which directory
// failed.
func (w *Writer) openHot(d *vmDirs, hasDRAM bool) (int, error) {
	if d.vm < 0 {
		if err := w.openFor(d, 0, w.rootfd, d.cname); err != nil {
			return openVMDir, err
		}
	}
	if d.zone[zonePackage] < 0 {
		if err := w.openFor(d, 1+zonePackage, d.vm, cPackageZoneDir); err != nil {
			return openPackageDir, err
		}
	}
	if hasDRAM && d.zone[zoneDRAM] < 0 {
		if err := w.openFor(d, 1+zoneDRAM, d.vm, cDRAMZoneDir); err != nil {
			return openDRAMDir, err
		}
	}
	return 0, nil
}

// openFor opens directory slot k of d, name in parent: kept, with a place
// in the budget, when there is one; for this write only (O_PATH)
// otherwise.
func (w *Writer) openFor(d *vmDirs, k, parent int, name []byte) error {
	held := w.dirs.take()
	var (
		fd  int
		err error
	)
	if held {
		fd, err = openatZ(parent, name, dirFlags, 0)
	} else {
		fd, err = openPathAt(parent, name)
	}
	if err != nil {
		if held {
			w.dirs.give()
		}
		w.noteFDs(err)
		return err
	}
	*d.fd(k), d.held[k] = fd, held
	return nil
}

// writeHeld is the hot path: the three files replaced inside the held
// directories, nothing looked at. It returns which file failed.
func (w *Writer) writeHeld(d *vmDirs, rec *Record, hasDRAM bool) (int, error) {
	w.num = appendEnergy(w.num[:0], rec.Zones[ZonePackage])
	if err := w.replaceFile(d.zone[zonePackage], cEnergyFile, w.num, &d.chmod[1+zonePackage], false); err != nil {
		return heldPackageEnergy, err
	}
	if hasDRAM {
		w.num = appendEnergy(w.num[:0], rec.Zones[ZoneDRAM])
		if err := w.replaceFile(d.zone[zoneDRAM], cEnergyFile, w.num, &d.chmod[1+zoneDRAM], false); err != nil {
			return heldDRAMEnergy, err
		}
	}
	if err := w.replaceFile(d.vm, cRecordFile, w.recJSON, &d.chmod[0], false); err != nil {
		return heldRecord, err
	}
	return 0, nil
}

// appendEnergy appends a zone's energy_uj line.
func appendEnergy(b []byte, e ZoneEnergy) []byte {
	b = strconv.AppendUint(b, e.TotalUJ()%TreeMaxRangeUJ, 10)
	return append(b, '\n')
}

// writeChecked is the full check and write (see Writer).
func (w *Writer) writeChecked(d *vmDirs, name string, rec *Record, hasDRAM bool) error {
	vmPath := filepath.Join(w.dir, name)
	if err := w.holdDir(w.rootfd, d, 0, name, vmPath); err != nil {
		return err
	}
	if err := w.writeZone(d, zonePackage, vmPath, PackageZoneDir, PackageZoneName, rec.Zones[ZonePackage]); err != nil {
		return err
	}
	if err := w.ensureDir(d.vm, CoreZoneDir, filepath.Join(vmPath, CoreZoneDir)); err != nil {
		return err
	}
	if hasDRAM {
		if err := w.writeZone(d, zoneDRAM, vmPath, DRAMZoneDir, DRAMZoneName, rec.Zones[ZoneDRAM]); err != nil {
			return err
		}
	}
	return w.replaceChecked(d.vm, RecordFile, cRecordFile, filepath.Join(vmPath, RecordFile), w.recJSON, &d.chmod[0])
}

// writeZone writes one zone directory of the tree, checked.
func (w *Writer) writeZone(d *vmDirs, zi int, vmPath, zone, zoneName string, e ZoneEnergy) error {
	zonePath := filepath.Join(vmPath, zone)
	if err := w.holdDir(d.vm, d, 1+zi, zone, zonePath); err != nil {
		return err
	}
	z := d.zone[zi]
	if err := w.writeStatic(d, zi, staticName, z, zonePath, zoneName+"\n"); err != nil {
		return err
	}
	if err := w.writeStatic(d, zi, staticMaxRange, z, zonePath, maxRangeText); err != nil {
		return err
	}
	w.num = appendEnergy(w.num[:0], e)
	return w.replaceChecked(z, EnergyFile, cEnergyFile, filepath.Join(zonePath, EnergyFile), w.num, &d.chmod[1+zi])
}

var maxRangeText = strconv.FormatUint(TreeMaxRangeUJ, 10) + "\n"

// staticFiles names the static files by their index in vmDirs.static.
var staticFiles = [nStatic]struct {
	name  string
	cname []byte
}{
	staticName:     {NameFile, cNameFile},
	staticMaxRange: {MaxRangeFile, cMaxRangeFile},
}

// writeStatic writes a file whose content rarely changes, only when it is
// missing, different from what was last written, or no longer the file
// that was written (replaced, rewritten or recreated by someone else: a
// file rewritten in place keeps its inode but not its mtime; one chmod'ed
// keeps its mtime but not its mode).
func (w *Writer) writeStatic(d *vmDirs, zi, si, dirfd int, dirPath, content string) error {
	f := staticFiles[si]
	display := filepath.Join(dirPath, f.name)
	c := &d.static[zi][si]
	var st unix.Stat_t
	found, err := checkTargetAt(dirfd, f.name, display, &st)
	if err != nil {
		return err
	}
	if found && c.st.ino != 0 && c.content == content && c.st == statOf(&st) {
		return nil
	}
	c.st = fileStat{}
	if err := w.replaceFile(dirfd, f.cname, []byte(content), &d.chmod[1+zi], true); err != nil {
		return fmt.Errorf("writing %s: %w", display, err)
	}
	if lstatAt(dirfd, f.name, &st) == nil {
		c.st, c.content = statOf(&st), content
	}
	return nil
}

// replaceChecked replaces name in dirfd after checking that what is there
// is a regular file.
func (w *Writer) replaceChecked(dirfd int, name string, cname []byte, display string, data []byte, chmod *bool) error {
	var st unix.Stat_t
	if _, err := checkTargetAt(dirfd, name, display, &st); err != nil {
		return err
	}
	if err := w.replaceFile(dirfd, cname, data, chmod, true); err != nil {
		return fmt.Errorf("writing %s: %w", display, err)
	}
	return nil
}

// holdDir makes slot k of d a descriptor of the directory name inside
// parent (see openDir), with a place in the Writer's budget when there is
// one, and cleans its stale temporary files the first time it sees that
// directory.
func (w *Writer) holdDir(parent int, d *vmDirs, k int, name, display string) error {
	st, created, err := w.openDir(parent, d.fd(k), &d.held[k], name, display)
	if err != nil {
		return err
	}
	if st.Ino != d.swept[k] {
		if !created {
			removeStaleTemps(*d.fd(k))
		}
		d.swept[k] = st.Ino
	}
	return nil
}

// dirFlags opens a directory the writer works in: never through a link,
// and readable, so that fchmod and listing work on it.
const dirFlags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_CLOEXEC

// openDir makes *held a descriptor of the directory name inside parent,
// creating it (mode 0755) when missing: the one held is kept when name
// still is it, otherwise name is opened, never following a link; with
// slot set, a newly opened one takes a place in the Writer's budget when
// there is one (*slot then true). It refuses, with ErrUnsafe, a name that
// is a symlink or not a directory, and a directory swapped between the
// look and the open. A directory whose mode is not 0755 (created through
// the umask, or chmod'ed by a guest) gets 0755 back, through the
// descriptor itself, so a swapped name cannot redirect the chmod. display
// is the path used in errors.
func (w *Writer) openDir(parent int, held *int, slot *bool, name, display string) (st unix.Stat_t, created bool, err error) {
	st, created, err = w.lookDir(parent, held, slot, name, display)
	if err == nil && (created || st.Mode&0o777 != dirPerm) {
		if err = unix.Fchmod(*held, dirPerm); err != nil {
			err = fmt.Errorf("chmod %s: %w", display, err)
		}
	}
	return st, created, err
}

func (w *Writer) lookDir(parent int, held *int, slot *bool, name, display string) (unix.Stat_t, bool, error) {
	var st unix.Stat_t
	err := lstatAt(parent, name, &st)
	created := false
	if errors.Is(err, unix.ENOENT) {
		if err = unix.Mkdirat(parent, name, dirPerm); err != nil && err != unix.EEXIST {
			return st, false, fmt.Errorf("creating %s: %w", display, err)
		}
		created = err == nil
		err = lstatAt(parent, name, &st)
	}
	if err != nil {
		return st, false, &fs.PathError{Op: "lstat", Path: display, Err: err}
	}
	if err := checkDirStat(&st, display); err != nil {
		return st, false, err
	}
	if *held >= 0 {
		var h unix.Stat_t
		if fstatFD(*held, &h) != nil || h.Dev != st.Dev || h.Ino != st.Ino {
			closeFD(*held)
			*held = -1
			if slot != nil && *slot {
				*slot = false
				w.dirs.give()
			}
		}
	}
	if *held < 0 {
		fd, err := openDirAt(parent, name)
		if err != nil {
			w.noteFDs(err)
			return st, false, openError(display, err, true)
		}
		var h unix.Stat_t
		if err := fstatFD(fd, &h); err != nil {
			closeFD(fd)
			return st, false, &fs.PathError{Op: "fstat", Path: display, Err: err}
		}
		if h.Dev != st.Dev || h.Ino != st.Ino {
			closeFD(fd)
			return st, false, fmt.Errorf("%s: %w: replaced while being opened", display, ErrUnsafe)
		}
		*held = fd
		if slot != nil {
			*slot = w.dirs.take() // a place, once the directory is known good
		}
	}
	return st, created, nil
}

// ensureDir makes sure name inside parent is a real directory of mode
// 0755, creating it when missing. An existing one costs a single lstat.
func (w *Writer) ensureDir(parent int, name, display string) error {
	var st unix.Stat_t
	err := lstatAt(parent, name, &st)
	if err == nil {
		if err := checkDirStat(&st, display); err != nil || st.Mode&0o777 == dirPerm {
			return err
		}
	} else if !errors.Is(err, unix.ENOENT) {
		return &fs.PathError{Op: "lstat", Path: display, Err: err}
	}
	fd := -1
	_, created, err := w.openDir(parent, &fd, nil, name, display)
	if fd >= 0 {
		if err == nil && !created {
			removeStaleTemps(fd)
		}
		closeFD(fd)
	}
	return err
}

// Remove deletes the VM directory name and everything in it (used to
// prune VMs that no longer exist), and releases what the Writer held for
// it. Symbolic links inside are unlinked, never followed, and nothing on
// another file system is touched: a directory with another file system
// mounted in it (a tmpfs, a bind mount) is left with everything in it, and
// the error (ErrUnsafe) names the mount point; the rest of the VM
// directory is removed. A missing directory is not an error.
func (w *Writer) Remove(name string) error {
	if err := ValidName(name); err != nil {
		return err
	}
	if d := w.vms[name]; d != nil {
		d.close(w.dirs)
		delete(w.vms, name)
	}
	display := filepath.Join(w.dir, name)
	if w.rootfd < 0 {
		return fmt.Errorf("removing %s: %w", display, errClosed)
	}
	root, err := statID(w.rootfd, "")
	if err != nil {
		return fmt.Errorf("removing %s: statx share root: %w", display, err)
	}
	return removeTree(w.rootfd, name, display, root, 0)
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
	if w.rootfd < 0 {
		return nil, fmt.Errorf("listing share root %s: %w", w.dir, errClosed)
	}
	fd, err := openDirAt(w.rootfd, ".")
	if err != nil {
		return nil, fmt.Errorf("listing share root %s: %w", w.dir, err)
	}
	d := os.NewFile(uintptr(fd), w.dir)
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

// Close releases the share root and every directory held. The Writer
// cannot be used afterwards; a second Close does nothing.
func (w *Writer) Close() error {
	if w.tmp != nil {
		releaseTempName(w.tmp)
		w.tmp = nil
	}
	for name, d := range w.vms {
		d.close(w.dirs)
		delete(w.vms, name)
	}
	if w.rootfd < 0 {
		return nil
	}
	err := closeFD(w.rootfd)
	w.rootfd = -1
	return err
}
