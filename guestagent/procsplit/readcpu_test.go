package procsplit

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReadCPU: the guest reads <proc-root>/stat with the host's parser
// (internal/procstat): clock ticks, guest time not added twice, and every
// refusal names the file and says what --proc-root should be. A FIFO
// planted at the path is refused at once instead of blocking the poll.
func TestReadCPU(t *testing.T) {
	for _, tc := range []struct {
		name, content string
		fifo          bool
		busy, idle    uint64
		wantErr       string
	}{
		{name: "aggregate and cpuN lines", content: "cpu  10 1 5 100 4 2 3 7 50 0\ncpu0 10 1 5 100 4 2 3 7 50 0\nintr 5\n", busy: 28, idle: 104},
		{name: "aggregate only", content: "cpu 1 2 3 4 5\n", busy: 6, idle: 9},
		{name: "empty", content: "", wantErr: `no aggregate "cpu" line`},
		{name: "per-CPU line first", content: "cpu0 1 2 3 4\n", wantErr: `no aggregate "cpu" line`},
		{name: "not a number", content: "cpu 1 x 3 4\n", wantErr: `"x" is not a number`},
		{name: "a FIFO", fifo: true, wantErr: "FIFO"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			path := filepath.Join(root, "stat")
			var err error
			if tc.fifo {
				err = syscall.Mkfifo(path, 0o600)
			} else {
				err = os.WriteFile(path, []byte(tc.content), 0o644)
			}
			if err != nil {
				t.Fatal(err)
			}
			type result struct {
				c   CPUTimes
				err error
			}
			done := make(chan result, 1)
			go func() { c, err := ReadCPU(root); done <- result{c, err} }()
			var r result
			select {
			case r = <-done:
			case <-time.After(3 * time.Second):
				t.Fatal("ReadCPU blocked")
			}
			if tc.wantErr != "" {
				if r.err == nil || !strings.Contains(r.err.Error(), tc.wantErr) || !strings.Contains(r.err.Error(), path) || !strings.Contains(r.err.Error(), "--proc-root") {
					t.Fatalf("ReadCPU = %+v, %v; want an error naming %s, %q and --proc-root", r.c, r.err, path, tc.wantErr)
				}
				return
			}
			if r.err != nil || r.c.Busy != tc.busy || r.c.Idle != tc.idle || r.c.Total() != tc.busy+tc.idle {
				t.Fatalf("ReadCPU = %+v, %v; want busy %d idle %d", r.c, r.err, tc.busy, tc.idle)
			}
		})
	}
}
