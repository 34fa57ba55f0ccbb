package discover

import (
	"fmt"
	"path/filepath"

	"github.com/prometheus/procfs"
)

// Mount is what the mount table says of a directory.
type Mount struct {
	FSType   string
	Source   string
	ReadOnly bool
}

// MountAt returns the mount whose mount point is dir (the last one, when
// several are stacked there), and false when dir is not a mount point. It
// reads <procRoot>/self/mountinfo.
func MountAt(procRoot, dir string) (Mount, bool, error) {
	fs, err := procfs.NewFS(procRoot)
	if err != nil {
		return Mount{}, false, fmt.Errorf("discover: %w", err)
	}
	mounts, err := fs.GetMounts()
	if err != nil {
		return Mount{}, false, fmt.Errorf("discover: reading %s: %w", filepath.Join(procRoot, "self/mountinfo"), err)
	}
	clean := filepath.Clean(dir)
	var m Mount
	found := false
	for _, mi := range mounts {
		if filepath.Clean(mi.MountPoint) != clean {
			continue
		}
		_, ro := mi.Options["ro"]
		if _, sro := mi.SuperOptions["ro"]; sro {
			ro = true
		}
		m, found = Mount{FSType: mi.FSType, Source: mi.Source, ReadOnly: ro}, true
	}
	return m, found, nil
}
