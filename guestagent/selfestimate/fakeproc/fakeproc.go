// Package fakeproc gives tests of the guest's estimate a fake proc root:
// a copy of guestagent/selfestimate/testdata/proc (4 vCPUs of an Intel
// Xeon Gold 6248, Cascade Lake; MemTotal 8 GiB; /proc/stat at 1000 busy
// and 3000 idle ticks) whose stat they rewrite step by step.
package fakeproc

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// CPUs is the number of cpuN lines the fake stat has.
const CPUs = 4

// New copies the fake proc root into a temporary directory and returns it.
func New(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("fakeproc: cannot locate testdata")
	}
	src := filepath.Join(filepath.Dir(file), "..", "testdata", "proc")
	dir := t.TempDir()
	for _, f := range []string{"cpuinfo", "meminfo", "stat"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// SetStat rewrites dir's stat: CPUs cpuN lines, these aggregate busy
// (user) and idle ticks.
func SetStat(t testing.TB, dir string, busy, idle uint64) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "cpu  %d 0 0 %d 0 0 0 0 0 0\n", busy, idle)
	for i := range CPUs {
		fmt.Fprintf(&b, "cpu%d %d 0 0 %d 0 0 0 0 0 0\n", i, busy/CPUs, idle/CPUs)
	}
	b.WriteString("intr 0\nctxt 0\n")
	if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
