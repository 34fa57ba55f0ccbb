package guestagent

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/guestagent/follow"
	"github.com/virtwatt/virtwatt/share"
)

// TestShareLinksOutAreNeverRead: a share whose files are symbolic links
// to a secret outside it (/etc/shadow, say) is refused as garbled; the
// secret never reaches the agent's log, its metrics or its samples.
func TestShareLinksOutAreNeverRead(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "shadow")
	const content = "root:$6$SECRET-HASH:19000:0:99999:7:::"
	if err := os.WriteFile(secret, []byte(content+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, link := range []string{share.RecordFile, filepath.Join(share.PackageZoneDir, share.EnergyFile)} {
		t.Run(link, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, link)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(secret, filepath.Join(dir, link)); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			a, err := New(testConfig(dir), slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
			if err != nil {
				t.Fatal(err)
			}
			s := a.poll(context.Background())
			if s.Up || s.Started() || s.ReadErrors[follow.ReasonGarbled] != 1 {
				t.Fatalf("sample up %v started %v errors %v: want refused as garbled", s.Up, s.Started(), s.ReadErrors)
			}
			if strings.Contains(logs.String(), "SECRET") {
				t.Fatalf("the log quotes the file outside the share:\n%s", logs.String())
			}
			if !strings.Contains(logs.String(), "symbolic link") {
				t.Errorf("the log does not say why:\n%s", logs.String())
			}
		})
	}
}

// TestShareFIFODoesNotBlock: a FIFO planted in the share fails the read
// at once (no writer will ever come), and the agent keeps polling.
func TestShareFIFODoesNotBlock(t *testing.T) {
	for _, name := range []string{share.RecordFile, filepath.Join(share.PackageZoneDir, share.EnergyFile)} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Fatal(err)
			}
			a, err := New(testConfig(dir), nil)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				for range 3 {
					a.poll(context.Background())
				}
			}()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("a poll blocked on the FIFO")
			}
			if s := a.Latest(); s.Up || s.ReadErrors[follow.ReasonGarbled] != 3 {
				t.Fatalf("up %v errors %v, want 3 garbled reads", s.Up, s.ReadErrors)
			}
		})
	}
}
