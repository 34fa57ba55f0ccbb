package share

import (
	"os"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// liveTemps holds the temporary names of this process's open Writers.
// One process writes a share root (the host agent locks it), so a
// temporary file whose name is not here is no live writer's: it was left
// by a writer killed between create and rename.
var liveTemps sync.Map // name without the NUL → struct{}

// claimTempName draws a temporary name no open Writer of this process
// holds, NUL-terminated, and registers it before any file of that name
// is created.
func claimTempName() []byte {
	for {
		b := newTempName()
		if _, taken := liveTemps.LoadOrStore(string(b[:len(b)-1]), struct{}{}); !taken {
			return b
		}
	}
}

// releaseTempName forgets a name claimTempName gave.
func releaseTempName(b []byte) { liveTemps.Delete(string(b[:len(b)-1])) }

// redrawTempName releases old and claims another (a file of old's name was
// in the way).
func redrawTempName(old []byte) []byte {
	b := claimTempName()
	releaseTempName(old)
	return b
}

// removeStaleTemps unlinks, in the directory dirfd, every entry whose
// name starts with tmpPrefix, that is no open Writer's (liveTemps) and
// that is not a directory: temporary files a writer killed between
// create and rename (SIGKILL, a power loss) left behind, or names planted
// to look like them. unlinkat never follows a symbolic link, so a planted
// link is removed and its target is not touched; a directory of that
// name is left alone (removing it would mean walking a tree a stranger
// made). It runs when a Writer first holds a directory. Errors are
// ignored: a stale file is litter, never read as a value.
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
		if _, live := liveTemps.Load(n); live {
			continue
		}
		var st unix.Stat_t
		if lstatAt(dirfd, n, &st) != nil || st.Mode&unix.S_IFMT == unix.S_IFDIR {
			continue
		}
		_ = unix.Unlinkat(dirfd, n, 0)
	}
}
