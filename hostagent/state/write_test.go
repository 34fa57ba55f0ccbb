package state

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// WriteFile replaces the file atomically through a temp file beside it:
// a leftover temp (a crash) or a link planted at the temp's name is
// removed, never followed; a link at the path is replaced, not followed;
// the file is 0600 and nothing else is left in the directory; a missing
// directory is an error naming the file.
func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	tmp := filepath.Join(dir, ".state.json.tmp")
	victim := filepath.Join(dir, "victim")
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T)
	}{
		{"fresh", func(*testing.T) {}},
		{"over a file", func(t *testing.T) { must(t, os.WriteFile(path, []byte("old"), 0o644)) }},
		{"leftover temp", func(t *testing.T) { must(t, os.WriteFile(tmp, []byte("half a state"), 0o600)) }},
		{"link at the temp", func(t *testing.T) { must(t, os.Symlink(victim, tmp)) }},
		{"link at the path", func(t *testing.T) { must(t, os.Symlink(victim, path)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, p := range []string{path, tmp} {
				_ = os.Remove(p)
			}
			must(t, os.WriteFile(victim, []byte("keep"), 0o644))
			tc.setup(t)
			if err := WriteFile(path, []byte(`{"version":1}`)); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Lstat(path)
			if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
				t.Fatalf("state file %v, %v: want a regular 0600 file", fi.Mode(), err)
			}
			if b, _ := os.ReadFile(path); string(b) != `{"version":1}` {
				t.Fatalf("state file holds %q", b)
			}
			if b, _ := os.ReadFile(victim); string(b) != "keep" {
				t.Fatalf("a link was followed: its target holds %q", b)
			}
			if _, err := os.Lstat(tmp); !os.IsNotExist(err) {
				t.Fatalf("temp file left: %v", err)
			}
		})
	}
	missing := filepath.Join(dir, "no", "state.json")
	if err := WriteFile(missing, []byte("{}")); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("missing directory: %v, want an error naming %s", err, missing)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
