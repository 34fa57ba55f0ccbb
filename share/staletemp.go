package share

import (
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// removeStaleTemps unlinks, in the directory dirfd, every entry whose
// name starts with tmpPrefix and that is not a directory: temporary
// files a writer killed between create and rename (SIGKILL, a power
// loss) left behind, or names planted to look like them. unlinkat never
// follows a symbolic link, so a planted link is removed and its target
// is not touched; a directory of that name is left alone (removing it
// would mean walking a tree a stranger made). It runs when a Writer
// first holds a directory: one Writer per share root (the root's lock),
// and the directories of one VM are written by one goroutine at a time,
// so no other writer's temporary file can be in flight there. Errors
// are ignored: a stale file is litter, never read as a value.
func removeStaleTemps(dirfd int) {
	fd, err := openDirAt(dirfd, ".")
	if err != nil {
		return
	}
	f := os.NewFile(uintptr(fd), ".")
	defer f.Close()
	names, _ := f.Readdirnames(-1)
	for _, n := range names {
		if !strings.HasPrefix(n, tmpPrefix) {
			continue
		}
		var st unix.Stat_t
		if lstatAt(dirfd, n, &st) != nil || st.Mode&unix.S_IFMT == unix.S_IFDIR {
			continue
		}
		_ = unix.Unlinkat(dirfd, n, 0)
	}
}
