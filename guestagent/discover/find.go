// Package discover finds the VM's virtwatt share among the virtio file
// systems the kernel sees, and mounts it read-only when the agent may.
//
// Where a share's tag shows:
//   - 9p: <sys>/bus/virtio/drivers/9pnet_virtio/virtioN/mount_tag (every
//     kernel with 9p);
//   - virtiofs: <sys>/fs/virtiofs/N/tag on kernels that export it (Linux
//     6.10 and later); older kernels (Debian 12's 6.1) show only that a
//     virtiofs device is bound (<sys>/bus/virtio/drivers/virtiofs/virtioN),
//     not its tag, so such a device is a candidate: mounting the tag is the
//     test, and "no such tag" (EINVAL, ENOENT) means it is not ours.
//
// Invariants: a share is only ever mounted read-only, nosuid, nodev and
// noexec, and only on a directory that is not already a mount point and
// holds no share of its own (a local share, as in the demo, is left alone).
package discover

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Tag is the mount tag `virtwatt-host attach` gives every VM's share.
const Tag = "virtwatt"

// File system types.
const (
	Type9p       = "9p"
	TypeVirtiofs = "virtiofs"
)

// Options9p are the 9p mount options besides ro (msize: fewer round trips
// per read); configs/guest/fstab and configs/systemd/mnt-virtwatt.mount use
// the same.
const Options9p = "trans=virtio,version=9p2000.L,msize=262144"

// Share is a virtio file system that may be the VM's share.
type Share struct {
	Type string // Type9p or TypeVirtiofs
	Tag  string
	// Device is the sysfs path the share was found at.
	Device string
	// Candidate: the kernel does not show this device's tag (virtiofs
	// before Linux 6.10); only a mount of Tag tells whether it is ours.
	Candidate bool
}

// Find lists the virtio file systems under sysRoot tagged tag: shares
// whose tag the kernel shows first, then virtiofs candidates (at most one:
// any of them answers a mount of the tag). No share is no error.
func Find(sysRoot, tag string) ([]Share, error) {
	var out []Share
	nineP, err := tagged(filepath.Join(sysRoot, "bus/virtio/drivers/9pnet_virtio/virtio*/mount_tag"), tag, Type9p)
	if err != nil {
		return nil, err
	}
	out = append(out, nineP...)
	vfs, err := tagged(filepath.Join(sysRoot, "fs/virtiofs/*/tag"), tag, TypeVirtiofs)
	if err != nil {
		return nil, err
	}
	out = append(out, vfs...)
	if _, err := os.Stat(filepath.Join(sysRoot, "fs/virtiofs")); err == nil {
		return out, nil // this kernel shows virtiofs tags: no guessing
	}
	devs, err := filepath.Glob(filepath.Join(sysRoot, "bus/virtio/drivers/virtiofs/virtio*"))
	if err != nil {
		return nil, fmt.Errorf("discover: %w", err)
	}
	sort.Strings(devs)
	if len(devs) > 0 {
		out = append(out, Share{Type: TypeVirtiofs, Tag: tag, Device: devs[0], Candidate: true})
	}
	return out, nil
}

// tagged reads every tag file matching pattern and keeps those equal to tag.
func tagged(pattern, tag, typ string) ([]Share, error) {
	files, err := filepath.Glob(pattern)
	if err != nil {
		return nil, fmt.Errorf("discover: %w", err)
	}
	sort.Strings(files)
	var out []Share
	for _, f := range files {
		b, err := os.ReadFile(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue // unplugged meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("discover: reading %s: %w", f, err)
		}
		// 9p's mount_tag ends in a NUL, virtiofs's tag in a newline.
		if strings.TrimRight(string(b), "\x00\n") == tag {
			out = append(out, Share{Type: typ, Tag: tag, Device: filepath.Dir(f)})
		}
	}
	return out, nil
}

// Command is the shell command that mounts s read-only at dir, for a user
// to run as root.
func (s Share) Command(dir string) string {
	opts := "ro"
	if s.Type == Type9p {
		opts += "," + Options9p
	}
	return fmt.Sprintf("mkdir -p %s && mount -t %s -o %s %s %s", dir, s.Type, opts, s.Tag, dir)
}
