package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// `virtwatt-guest status` exits non-zero, and says what to fix, when the
// share is not there; its own --help exits 0.
func TestStatusCommand(t *testing.T) {
	var out, errb bytes.Buffer
	dir := filepath.Join(t.TempDir(), "absent")
	if code := Main([]string{"status", "--share-dir", dir}, &out, &errb); code != 1 {
		t.Errorf("status on a missing share: exit %d, want 1; stderr %s", code, errb.String())
	}
	for _, want := range []string{"FAIL mount   " + dir + " is not a mount point", "FAIL fresh", "fix:", "NOT healthy"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if code := Main([]string{"status", "--help"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "virtwatt-guest status:") {
		t.Errorf("status --help: exit %d, output %q", code, out.String())
	}
	if code := Main([]string{"status", "extra"}, &out, &errb); code != 2 {
		t.Errorf("status extra: exit %d, want 2", code)
	}
}
