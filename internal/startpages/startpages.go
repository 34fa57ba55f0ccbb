// Package startpages lets a long-running process give back the pages of
// its own executable that only its start touched.
//
// A Go program's start runs every package's init and touches most of its
// text and read-only data (type data, function tables): virtwatt-host
// maps 11-15 MB of its binary by the first tick, while a tick touches
// 5-8 MB of it. Those pages are clean and file-backed: RSS counts them
// until the kernel reclaims them under memory pressure. Release asks for
// that reclaim now (madvise MADV_PAGEOUT on the executable's read-only
// mappings): what is used afterwards faults back in (from the page cache,
// or the disk if the page was reclaimed), what is not stays out.
//
// Invariants: only mappings of the executable that are not writable are
// advised, and MADV_PAGEOUT never discards data (a private page that was
// written, such as the relocated RELRO page, is swapped or kept, never
// dropped), so nothing the process computed is lost. Pages another
// process maps too are left alone by the kernel.
package startpages

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Release advises the kernel to reclaim the executable's read-only
// mappings now, and returns how many bytes it advised. A kernel without
// MADV_PAGEOUT (before 5.4) refuses it (EINVAL): nothing is done.
func Release() (int, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, fmt.Errorf("finding the executable: %w", err)
	}
	ranges, err := mappings("/proc/self/maps", exe)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range ranges {
		if err := madvise(r[0], r[1]-r[0], unix.MADV_PAGEOUT); err != nil {
			return n, fmt.Errorf("madvise(MADV_PAGEOUT) on %s %x-%x: %w", exe, r[0], r[1], err)
		}
		n += int(r[1] - r[0])
	}
	return n, nil
}

// mappings returns the address ranges of path's mappings in the maps
// file that are not writable.
func mappings(maps, path string) ([][2]uintptr, error) {
	f, err := os.Open(maps)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out [][2]uintptr
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// address perms offset dev inode path
		fs := strings.Fields(sc.Text())
		if len(fs) < 6 || strings.Join(fs[5:], " ") != path || len(fs[1]) < 2 || fs[1][1] != '-' {
			continue
		}
		lo, hi, ok := strings.Cut(fs[0], "-")
		a, err1 := strconv.ParseUint(lo, 16, 64)
		b, err2 := strconv.ParseUint(hi, 16, 64)
		if !ok || err1 != nil || err2 != nil || b <= a {
			return nil, fmt.Errorf("%s: bad mapping %q", maps, fs[0])
		}
		out = append(out, [2]uintptr{uintptr(a), uintptr(b)})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", maps, err)
	}
	if len(out) == 0 {
		return nil, errors.New("no read-only mapping of the executable in " + maps)
	}
	return out, nil
}

// madvise is madvise(2) on a range outside the Go heap (unix.Madvise
// takes a []byte).
func madvise(addr, length uintptr, advice int) error {
	if _, _, e := syscall.Syscall(unix.SYS_MADVISE, addr, length, uintptr(advice)); e != 0 {
		return e
	}
	return nil
}
