package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/guestagent"
	"github.com/virtwatt/virtwatt/guestagent/measure"
	"github.com/virtwatt/virtwatt/share"
)

func TestMain_(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		out, err string
	}{
		{args: []string{"--version"}, code: 0, out: "virtwatt-guest, version dev"},
		{args: []string{"version"}, code: 0, out: "virtwatt-guest, version dev"},
		{args: []string{"--help"}, code: 0, out: "track [flags] -- CMD"},
		{args: []string{"run", "-h"}, code: 0, out: "-share-dir"},
		{args: []string{"help"}, code: 0, out: "-poll-interval"},
		{args: []string{"--list-countries"}, code: 0, out: "FRA"},
		{args: []string{"--list-cloud-regions"}, code: 0, out: "us-east-1"},
		{args: []string{"--share-dir", "/x", "--version"}, code: 0, out: "virtwatt-guest, version dev"},
		{args: []string{"track", "--version"}, code: 0, out: "virtwatt-guest, version dev"},
		{args: []string{"--poll-interval", "1s", "--top-processes", "3", "--version"}, code: 0, out: "go version:"},
		{args: []string{"run", "--web.listen-address", "", "--log.format", "xml"}, code: 2, err: "web_listen_address (--web.listen-address)"},
		{args: []string{"run", "--web.listen-address", "", "--log.format", "xml"}, code: 2, err: "log_format (--log.format)"},
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

func TestTrack(t *testing.T) {
	root := t.TempDir()
	w, err := share.NewWriter(root)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	rec := &share.Record{
		Schema: share.SchemaVersion, Host: "hv", Domain: "vm1", UUID: "u", Instance: "i", Sequence: 1,
		Timestamp: time.Now(), IntervalSeconds: 1,
		Zones: map[string]share.ZoneEnergy{share.ZonePackage: {UsageUJ: 5_000_000}},
	}
	if err := w.Write("vm1", rec, false); err != nil {
		t.Fatal(err)
	}
	// The host updates the share every 20 ms while the tests run, so that
	// a command's run spans host updates.
	stop := make(chan struct{})
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			rec.Sequence++
			rec.Timestamp = time.Now()
			rec.Zones[share.ZonePackage] = share.ZoneEnergy{UsageUJ: rec.Zones[share.ZonePackage].UsageUJ + 1_000_000}
			if err := w.Write("vm1", rec, false); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	defer func() { close(stop); <-wrote }()
	shareDir := filepath.Join(root, "vm1")
	csv := filepath.Join(t.TempDir(), "emissions.csv")

	tests := []struct {
		name string
		args []string
		code int
		err  string
	}{
		{"exit code passed through", []string{"track", "--share-dir", shareDir, "--", "sh", "-c", "exit 3"}, 3, "VM energy"},
		{"no command", []string{"track", "--share-dir", shareDir}, 2, "no command"},
		{"missing share still runs", []string{"track", "--share-dir", filepath.Join(root, "nope"), "--", "true"}, 0, "VM energy"},
		{"missing share: the guest's estimate", []string{"track", "--share-dir", filepath.Join(root, "nope"), "--", "sleep", "0.3"}, 0, "estimated (ccf)"},
		{"missing share, --estimate=false: unknown", []string{"track", "--share-dir", filepath.Join(root, "nope"), "--estimate=false", "--", "true"}, 0, "unknown"},
		{"not found", []string{"track", "--", "/nonexistent/cmd"}, 127, "not found"},
		{"--version after CMD is CMD's", []string{"track", "--share-dir", shareDir, "sh", "-c", "exit 3", "--version"}, 3, "VM energy"},
		{"--version after -- CMD is CMD's", []string{"track", "--share-dir", shareDir, "--", "sh", "-c", "exit 3", "--version"}, 3, "VM energy"},
		{"--version after -- is CMD's", []string{"track", "--share-dir", shareDir, "--", "--version"}, 127, "not found"},
		{"--list-countries after CMD is CMD's", []string{"track", "sh", "-c", "exit 4", "--list-countries"}, 4, ""},
		{"csv that cannot be opened still runs", []string{"track", "--share-dir", shareDir, "--csv", filepath.Join(root, "no", "such", "dir", "e.csv"), "--", "sh", "-c", "exit 5"}, 5, "without the CSV row"},
		{"csv row", []string{"track", "--share-dir", shareDir, "--csv", csv, "--", "sh", "-c", "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done"}, 0, "host window"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb strings.Builder
			if code := Main(tt.args, &out, &errb); code != tt.code {
				t.Fatalf("exit %d, want %d\nstderr: %s", code, tt.code, errb.String())
			}
			if !strings.Contains(errb.String(), tt.err) {
				t.Errorf("stderr lacks %q:\n%s", tt.err, errb.String())
			}
			if strings.Contains(out.String(), "virtwatt-guest, version") || strings.Contains(out.String(), "FRA") {
				t.Errorf("virtwatt's own flag ran instead of the command:\n%s", out.String())
			}
		})
	}
	b, err := os.ReadFile(csv)
	if err != nil || !strings.Contains(string(b), ",process,") {
		t.Fatalf("csv after track: %v\n%s", err, b)
	}
}

var _ measure.Sampler = (*guestagent.ShareSampler)(nil)
