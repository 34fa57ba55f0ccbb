package meter

import (
	"bufio"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// expandTree builds the powercap tree described by testdata/powercap/<name>
// under a fresh temporary directory and returns its root.
func expandTree(t *testing.T, name string) string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "powercap", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	root := t.TempDir()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if dir, ok := strings.CutSuffix(line, "/"); ok {
			if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		rel, content, ok := strings.Cut(line, " = ")
		if !ok {
			t.Fatalf("%s: bad line %q", name, line)
		}
		writeFile(t, filepath.Join(root, rel), content+"\n")
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return root
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeMSR creates (or extends) the fake msr file <root>/<cpu>/msr with the
// given 64-bit register values at their offsets; the file is sparse.
//
// The real driver reads each register whole at offset = register number, but
// in a plain file registers closer than 8 apart overlap: AMD's unit register
// 0xC0010299 shares bytes with the package counter at 0xC001029B. Registers
// are therefore written in ascending order, so the unit register keeps its
// two low bytes, which hold the energy status unit (bits 12:8).
func writeMSR(t testing.TB, root string, cpu string, regs map[int64]uint64) {
	t.Helper()
	path := filepath.Join(root, cpu, "msr")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	keys := make([]int64, 0, len(regs))
	for reg := range regs {
		keys = append(keys, reg)
	}
	slices.Sort(keys)
	for _, reg := range keys {
		v := regs[reg]
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], v)
		if _, err := f.WriteAt(b[:], reg); err != nil {
			t.Fatal(err)
		}
	}
}

// mkfifoOver replaces path with a FIFO.
func mkfifoOver(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
}
