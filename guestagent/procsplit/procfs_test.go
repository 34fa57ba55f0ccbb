package procsplit

import (
	"strings"
	"testing"
)

func TestParseProcStat(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		want    Proc
		wantErr string
	}{
		{
			name: "plain",
			line: "42 (bash) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 555 1000 10 0",
			want: Proc{PID: 42, PPID: 1, Comm: "bash", CPUTicks: 10, StartTime: 555},
		},
		{
			name: "comm with spaces and parens",
			line: "7 (a (b) c) R 2 7 7 0 -1 0 0 0 0 0 100 1 0 0 20 0 1 0 9 0 0 0",
			want: Proc{PID: 7, PPID: 2, Comm: "a (b) c", CPUTicks: 101, StartTime: 9},
		},
		{
			name: "invalid utf8 comm",
			line: "8 (x\xff) S 1 8 8 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 3 0 0 0",
			want: Proc{PID: 8, PPID: 1, Comm: "x?", CPUTicks: 2, StartTime: 3},
		},
		{name: "empty", line: "", wantErr: "no (comm)"},
		{name: "truncated", line: "9 (sh) S 1 9 9 0 -1 0 0 0 0 0 1 1", wantErr: "fields after comm"},
		{name: "garbled number", line: "9 (sh) S 1 9 9 0 -1 0 0 0 0 0 x 1 0 0 20 0 1 0 3 0 0 0", wantErr: "field 14"},
		{name: "bad pid", line: "z (sh) S 1 9 9 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 3 0 0 0", wantErr: "pid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseProcStat([]byte(tc.line))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestScanSkipsNonPidsAndBadFiles(t *testing.T) {
	f := newFakeProc(t)
	f.setProc(1, 0, "init", 1, 1, 1)
	f.setProc(20, 1, "worker", 5, 5, 10)
	f.setCPU(0, 0, 0, 0)
	mustWrite(t, f.root+"/self", "not a dir")
	mustMkdir(t, f.root+"/33")
	mustWrite(t, f.root+"/33/stat", "garbage")
	procs, skipped, err := NewScanner(f.root).Scan(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(procs) != 2 || skipped != 1 {
		t.Fatalf("procs %+v skipped %d, want 2 procs and 1 skipped", procs, skipped)
	}
	if _, _, err := NewScanner(f.root + "/missing").Scan(nil); err == nil || !strings.Contains(err.Error(), "--proc-root") {
		t.Fatalf("missing root: err = %v", err)
	}
}
