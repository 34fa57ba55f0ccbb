package main

import (
	"strings"
	"testing"
)

func TestMain_(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		out, err string
	}{
		{args: []string{"--version"}, code: 0, out: "virtwatt-guest dev"},
		{args: []string{"version"}, code: 0, out: "virtwatt-guest dev"},
		{args: []string{"--help"}, code: 0, out: "track [flags] -- CMD"},
		{args: []string{"run", "-h"}, code: 0, out: "-share-dir"},
		{args: []string{"help"}, code: 0, out: "-poll-interval"},
		{args: []string{"--list-countries"}, code: 0, out: "FRA"},
		{args: []string{"--list-cloud-regions"}, code: 0, out: "us-east-1"},
		{args: []string{"frobnicate"}, code: 2, err: `unknown command "frobnicate"`},
		{args: []string{"--poll-interval", "fast"}, code: 2, err: "poll-interval"},
		{args: []string{"--country", "XX"}, code: 2, err: "XX"},
		{args: []string{"run", "extra"}, code: 2, err: "unexpected arguments"},
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
		})
	}
}
