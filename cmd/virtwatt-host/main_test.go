package main

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestMain_(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		args     []string
		code     int
		out, err string
		notOut   string
	}{
		{args: []string{"--version"}, out: "virtwatt-host, version dev"},
		{args: []string{"-version"}, out: "go version:"},
		{args: []string{"--interval", "2s", "--once", "--version"}, out: "build date:"},
		{args: []string{"--web.listen-address", "127.0.0.1:1", "--version=true"}, out: "virtwatt-host, version"},
		{args: []string{"doctor", "--share-root", dir, "--version"}, out: "virtwatt-host, version"},
		{args: []string{"--help"}, out: "", err: "-web.listen-address"},
		{args: []string{"--host-name", "--version", "--interval", "1ms"}, code: 2, err: "interval", notOut: "version"}, // --host-name's value
		{args: []string{"--interval", "1ms", "--log.format", "xml", "--web.listen-address", "", "--state-file", filepath.Join(dir, "s.json")}, code: 2,
			err: "config key interval (--interval)"},
		{args: []string{"--interval", "1ms", "--log.format", "xml", "--state-file", filepath.Join(dir, "s.json")}, code: 2,
			err: "config key log_format (--log.format)"},
		{args: []string{"--config", filepath.Join(dir, "none.toml")}, code: 2, err: "none.toml"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errb strings.Builder
			code := Main(tt.args, &out, &errb)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out.String(), errb.String())
			}
			if !strings.Contains(out.String(), tt.out) {
				t.Errorf("stdout lacks %q:\n%s", tt.out, out.String())
			}
			if !strings.Contains(errb.String(), tt.err) {
				t.Errorf("stderr lacks %q:\n%s", tt.err, errb.String())
			}
			if tt.notOut != "" && strings.Contains(out.String(), tt.notOut) {
				t.Errorf("stdout has %q:\n%s", tt.notOut, out.String())
			}
		})
	}
}
