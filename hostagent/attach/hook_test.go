package attach

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The shipped libvirt qemu hook calls `virtwatt-host attach --prepare NAME`
// with the domain XML on stdin at "prepare begin" only.
func TestQemuHookScript(t *testing.T) {
	hook, err := filepath.Abs("../../configs/libvirt/hooks/qemu")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	fake := filepath.Join(dir, "virtwatt-host")
	log := filepath.Join(dir, "calls")
	script := "#!/bin/sh\necho \"$@\" >> " + log + "\ncat >> " + log + "\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"vm1", "prepare", "begin", "-"}, {"vm1", "start", "begin", "-"}, {"vm1", "release", "end", "-"}} {
		cmd := exec.Command(hook, args...)
		cmd.Env = append(os.Environ(), "VIRTWATT_HOST="+fake, "VIRTWATT_CONFIG="+filepath.Join(dir, "none.toml"))
		cmd.Stdin = strings.NewReader("<domain><name>vm1</name></domain>\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("hook %v: %v\n%s", args, err, out)
		}
	}
	b, _ := os.ReadFile(log)
	if want := "attach --prepare vm1\n<domain><name>vm1</name></domain>\n"; string(b) != want {
		t.Errorf("calls:\n%s\nwant:\n%s", b, want)
	}
}
