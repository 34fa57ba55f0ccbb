package procinfo

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadTopology(t *testing.T) {
	block := func(i int, pid string) string {
		s := "processor\t: " + string(rune('0'+i)) + "\nmodel name\t: X\n"
		if pid != "" {
			s += "physical id\t: " + pid + "\n"
		}
		return s + "flags\t\t: " + strings.Repeat("fpu ", 2000) + "\n\n" // a long flags line
	}
	tests := []struct {
		name             string
		text             string
		sockets, threads int
	}{
		{"two sockets, four threads", block(0, "0") + block(1, "0") + block(2, "1") + block(3, "1"), 2, 4},
		{"no physical id (a VM)", block(0, "") + block(1, ""), 1, 2},
		{"nothing at all", "\n", 1, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "cpuinfo"), []byte(tc.text), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := ReadTopology(dir)
			if err != nil || got.Sockets != tc.sockets || got.Threads != tc.threads {
				t.Fatalf("ReadTopology = %+v, %v; want %d sockets, %d threads", got, err, tc.sockets, tc.threads)
			}
		})
	}
	if _, err := ReadTopology(t.TempDir()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing cpuinfo: %v", err)
	}
}
