package share

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestReadUpTo: whatever size is reported (a procfs file says 0, a file
// that grew says too little), readUpTo returns the file's bytes up to the
// limit, never more.
func TestReadUpTo(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name        string
		len         int
		size, limit int64
		want        int
	}{
		{"size right", 700, 700, 4097, 700},
		{"size 0 (procfs)", 3000, 0, 4097, 3000},
		{"grew past the size", 5000, 10, 1 << 20, 5000},
		{"at the limit", 4097, 4097, 4097, 4097},
		{"past the limit", 9000, 9000, 4097, 4097},
		{"empty", 0, 0, 4097, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			content := bytes.Repeat([]byte("0123456789"), tc.len/10+1)[:tc.len]
			path := filepath.Join(dir, "f")
			if err := os.WriteFile(path, content, 0o644); err != nil {
				t.Fatal(err)
			}
			fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			b, err := readUpTo(fd, tc.size, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, content[:tc.want]) {
				t.Errorf("read %d bytes, want the first %d of %d", len(b), tc.want, tc.len)
			}
		})
	}
}
