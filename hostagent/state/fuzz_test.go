package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoadState: whatever the state file holds, Load never panics or
// hangs; it either refuses the file with an error naming it and the fix,
// or returns a state that passes Validate and that Save then Load give
// back identically; Save's Encoder writes it as encoding/json does.
func FuzzLoadState(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"version":1,"vms":{"u":{"instance":"i","zones":{"package":{"usage_uj":1}},"instance_base":{"package":{"usage_uj":1}}}}}`))
	dir := fuzzDir(f)
	in, out := filepath.Join(dir, "in.json"), filepath.Join(dir, "out.json")
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := os.WriteFile(in, b, 0o600); err != nil {
			t.Fatal(err)
		}
		st, err := Load(in)
		if err != nil {
			msg := err.Error()
			if !strings.Contains(msg, in) || !strings.Contains(msg, Fix) {
				t.Fatalf("refusal does not name the file and the fix: %v", err)
			}
			var fe *FieldError
			if errors.As(err, &fe) && fe.Problem == "" {
				t.Fatalf("field error without a problem: %#v", fe)
			}
			return
		}
		if err := st.Validate(); err != nil {
			t.Fatalf("Load returned a state that fails Validate: %v", err)
		}
		first, err := json.Marshal(st)
		if err != nil {
			t.Fatalf("loaded state does not encode: %v", err)
		}
		var enc Encoder
		if ours, err := enc.Encode(st); err != nil || !bytes.Equal(ours, first) {
			t.Fatalf("Encoder (%v) differs from encoding/json:\nours: %s\njson: %s", err, ours, first)
		}
		if err := st.Save(out, st.SavedAt); err != nil {
			t.Fatalf("loaded state does not save: %v", err)
		}
		again, err := Load(out)
		if err != nil {
			t.Fatalf("a saved state is refused: %v\nsaved: %s", err, first)
		}
		second, err := json.Marshal(again)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, second) {
			t.Fatalf("round trip changed the state:\nfirst:  %s\nsecond: %s", first, second)
		}
	})
}

// fuzzDir is a temporary directory, on tmpfs where there is one: Save
// fsyncs, which on a busy disk would slow fuzzing to a crawl.
func fuzzDir(f *testing.F) string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "virtwatt-fuzz-"); err == nil {
			f.Cleanup(func() { os.RemoveAll(d) })
			return d
		}
	}
	return f.TempDir()
}
