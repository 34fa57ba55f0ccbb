// Package guestimage builds the tiny guest the end-to-end suite boots under
// qemu: the Debian generic kernel (which has 9p and virtiofs as modules) and
// an initramfs made of busybox-static, the virtio/9p/virtiofs/virtio-net
// modules and one static program (virtwatt-guest), started by an init
// script that mounts the VM's share read-only, or leaves the mount to the
// program (which finds the virtio share tagged "virtwatt" itself).
//
// The guest's role is chosen at boot through the kernel command line, so one
// image serves every guest:
//
//	vw.fs=9p|virtiofs   how the share arrives (mount tag: vw.tag, default "virtwatt")
//	vw.mount=init|agent who mounts the share: the init script, or the agent
//	                    itself (default: agent for 9p tagged "virtwatt", else init)
//	vw.busy=1           also run a CPU-bound loop (at nice 19) for the whole run
//	vw.args=A,B,...     extra arguments for the program, comma-separated
//
// The init script prints VW-* markers on the console (ttyS0) so the host can
// follow the boot: VW-MOUNT-OK, VW-NET-UP, VW-BUSY, VW-AGENT-START,
// VW-AGENT-EXIT (the program is restarted a second later if it exits).
package guestimage

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Modules are the kernel modules the guest loads, in dependency order,
// relative to the kernel's lib/modules/VERSION/kernel directory.
var Modules = []string{
	"drivers/virtio/virtio_ring.ko",
	"drivers/virtio/virtio.ko",
	"drivers/virtio/virtio_pci_modern_dev.ko",
	"drivers/virtio/virtio_pci_legacy_dev.ko",
	"drivers/virtio/virtio_pci.ko",
	"net/9p/9pnet.ko",
	"net/9p/9pnet_virtio.ko",
	"fs/netfs/netfs.ko",
	"fs/fscache/fscache.ko",
	"fs/9p/9p.ko",
	"fs/fuse/fuse.ko",
	"fs/fuse/virtiofs.ko",
	"net/core/failover.ko",
	"drivers/net/net_failover.ko",
	"drivers/net/virtio_net.ko",
}

// Applets are the busybox applets the init script uses.
var Applets = []string{"sh", "mount", "insmod", "mkdir", "cat", "sleep", "echo", "ip", "renice", "tr", "grep"}

// Config says where the parts of the image come from.
type Config struct {
	KernelDir   string // holds vmlinuz and modules/<path from Modules> (see tests/e2e/install.sh)
	Busybox     string // a static busybox, e.g. /bin/busybox from busybox-static
	Program     string // the static program to run (virtwatt-guest)
	ProgramArgs []string
	OutDir      string // receives vmlinuz and initrd.img
}

// Image is a built guest.
type Image struct {
	Kernel string // path of the kernel image
	Initrd string // path of the gzip-compressed initramfs
}

// Build writes the kernel and the initramfs into cfg.OutDir.
func Build(cfg Config) (Image, error) {
	var img Image
	if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
		return img, fmt.Errorf("guestimage: %w", err)
	}
	kernel, err := os.ReadFile(filepath.Join(cfg.KernelDir, "vmlinuz"))
	if err != nil {
		return img, fmt.Errorf("guestimage: kernel: %w (run tests/e2e/install.sh)", err)
	}
	img.Kernel = filepath.Join(cfg.OutDir, "vmlinuz")
	if err := os.WriteFile(img.Kernel, kernel, 0o644); err != nil {
		return img, fmt.Errorf("guestimage: %w", err)
	}

	var raw bytes.Buffer
	c := &cpioWriter{w: &raw}
	for _, d := range []string{"bin", "dev", "proc", "sys", "tmp", "mnt", "mnt/virtwatt", "lib", "lib/modules"} {
		c.Dir(d, 0o755)
	}
	c.CharDev("dev/console", 0o600, 5, 1)
	bb, err := os.ReadFile(cfg.Busybox)
	if err != nil {
		return img, fmt.Errorf("guestimage: busybox: %w (apt-get install busybox-static)", err)
	}
	c.File("bin/busybox", 0o755, bb)
	for _, a := range Applets {
		c.Symlink("bin/"+a, "busybox")
	}
	var order []string
	for _, m := range Modules {
		b, err := os.ReadFile(filepath.Join(cfg.KernelDir, "modules", m))
		if err != nil {
			return img, fmt.Errorf("guestimage: module: %w (run tests/e2e/install.sh)", err)
		}
		c.File("lib/modules/"+filepath.Base(m), 0o644, b)
		order = append(order, filepath.Base(m))
	}
	c.File("lib/modules/order", 0o644, []byte(strings.Join(order, "\n")+"\n"))
	prog, err := os.ReadFile(cfg.Program)
	if err != nil {
		return img, fmt.Errorf("guestimage: program: %w", err)
	}
	c.File("bin/"+filepath.Base(cfg.Program), 0o755, prog)
	c.File("init", 0o755, []byte(InitScript("/bin/"+filepath.Base(cfg.Program), cfg.ProgramArgs)))
	if err := c.Close(); err != nil {
		return img, fmt.Errorf("guestimage: cpio: %w", err)
	}

	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	if _, err := zw.Write(raw.Bytes()); err != nil {
		return img, fmt.Errorf("guestimage: gzip: %w", err)
	}
	if err := zw.Close(); err != nil {
		return img, fmt.Errorf("guestimage: gzip: %w", err)
	}
	img.Initrd = filepath.Join(cfg.OutDir, "initrd.img")
	if err := os.WriteFile(img.Initrd, gz.Bytes(), 0o644); err != nil {
		return img, fmt.Errorf("guestimage: %w", err)
	}
	return img, nil
}
