package procinfo

import "os"

// OpenFDs counts this process's open descriptors, from /proc/self/fd (the
// descriptor it opens to read the directory not counted); 0 where /proc is
// not there to say. Both agents size what they hold open by it: the share
// writers' directory budget and the web endpoint's connection cap.
func OpenFDs() int {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return 0
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return 0
	}
	return len(names) - 1
}
