package guestagent

import (
	"io"
	"strings"
	"testing"
	"time"
)

// --proc-scan-interval / proc_scan_interval: 5 s by default, the flag wins
// over the file, 0 is allowed (scan at every share update) and a negative
// value is refused naming the flag.
func TestProcScanInterval(t *testing.T) {
	for _, tc := range []struct {
		name    string
		file    string
		args    []string
		want    time.Duration
		wantErr string
	}{
		{name: "default", want: 5 * time.Second},
		{name: "file", file: "proc_scan_interval = \"10s\"\n", want: 10 * time.Second},
		{name: "flag wins", file: "proc_scan_interval = \"10s\"\n", args: []string{"--proc-scan-interval=2s"}, want: 2 * time.Second},
		{name: "zero: every update", args: []string{"--proc-scan-interval=0s"}, want: 0},
		{name: "negative", args: []string{"--proc-scan-interval=-1s"}, wantErr: "proc-scan-interval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.file != "" {
				args = append([]string{"--config", writeConfig(t, tc.file)}, args...)
			}
			cfg, _, err := ParseArgs("run", args, io.Discard, nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.ProcScanInterval.Duration != tc.want {
				t.Fatalf("proc scan interval %v, want %v", cfg.ProcScanInterval, tc.want)
			}
		})
	}
}
