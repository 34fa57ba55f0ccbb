package share

import (
	"fmt"
	"strings"
)

// MaxNameLen is the longest VM directory name accepted, in bytes (the
// NAME_MAX of Linux file systems).
const MaxNameLen = 255

// ValidName reports whether name can be used as a VM's directory name
// directly under the share root: it must be a single, non-empty path
// component ("", ".", "..", names containing '/' or NUL, and names longer
// than MaxNameLen bytes are rejected).
func ValidName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("share: empty VM directory name")
	case name == "." || name == "..":
		return fmt.Errorf("share: VM directory name %q is not allowed", name)
	case strings.ContainsRune(name, '/'):
		return fmt.Errorf("share: VM directory name %q contains '/'", name)
	case strings.IndexByte(name, 0) >= 0:
		return fmt.Errorf("share: VM directory name %q contains a NUL byte", name)
	case len(name) > MaxNameLen:
		return fmt.Errorf("share: VM directory name is %d bytes long, the limit is %d", len(name), MaxNameLen)
	}
	return nil
}
