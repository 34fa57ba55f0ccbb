// Command guestfloor is the CPU floor of virtwatt-guest following a share:
// a Go program that does nothing but read the share's record file into a
// reused buffer once per poll interval (open, read, close; no parsing, no
// metrics, no per-process split). What a Go process costs to wake once a
// second and read one small file is what virtwatt-guest cannot go below;
// scripts/guest-footprint-ab.sh runs it beside the real guest, on the same
// share, at the same time:
//
//	go build -o /tmp/guestfloor ./tests/bench/guestfloor
//	GUESTS="bin/virtwatt-guest:guest /tmp/guestfloor:floor" scripts/guest-footprint-ab.sh
//
// It takes the guest's flags that the script passes, and ignores all but
// --share-dir and --poll-interval.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	dir := flag.String("share-dir", "/run/virtwatt", "the VM's share directory")
	interval := flag.Duration("poll-interval", time.Second, "how often the record is read")
	flag.String("web.listen-address", "", "ignored (the guest's flag)")
	flag.String("log.level", "", "ignored (the guest's flag)")
	flag.Int("top-processes", 0, "ignored (the guest's flag)")
	flag.Duration("proc-scan-interval", 0, "ignored (the guest's flag)")
	flag.Parse()
	name := filepath.Join(*dir, "virtwatt.json")
	buf := make([]byte, 64<<10)
	reads, failed := 0, 0
	t := time.NewTicker(*interval)
	for range t.C {
		reads++
		if _, err := readFile(name, buf); err != nil {
			failed++
			if failed == 1 || failed%60 == 0 {
				fmt.Fprintf(os.Stderr, "guestfloor: %d of %d reads failed, last: %v\n", failed, reads, err)
			}
		}
	}
}

// readFile reads name into buf with the syscalls a bounded read needs:
// open, read, close.
func readFile(name string, buf []byte) (int, error) {
	fd, err := syscall.Open(name, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer syscall.Close(fd)
	return syscall.Read(fd, buf)
}
