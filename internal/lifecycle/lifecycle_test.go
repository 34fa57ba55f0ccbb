package lifecycle

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestSignals(t *testing.T) {
	var buf syncBuf
	ctx, stop := SignalContext(context.Background(), slog.New(slog.NewTextHandler(&buf, nil)))
	defer stop()
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for !strings.Contains(buf.String(), HUPMessage) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := strings.Count(buf.String(), HUPMessage); n != 1 {
		t.Fatalf("SIGHUP logged %d times, want once:\n%s", n, buf.String())
	}
	if ctx.Err() != nil {
		t.Fatal("SIGHUP ended the context")
	}
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("SIGTERM did not end the context")
	}
	stop()
	stop() // idempotent
}

func TestRunBounded(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	stuck := make(chan struct{})
	defer close(stuck)
	t0 := time.Now()
	err := Run(ctx, 200*time.Millisecond, func(context.Context) error { <-stuck; return nil })
	if !errors.Is(err, ErrStuck) {
		t.Fatalf("Run: %v, want ErrStuck", err)
	}
	if d := time.Since(t0); d > time.Second {
		t.Fatalf("Run waited %v with a 200ms grace", d)
	}
	want := errors.New("boom")
	if err := Run(context.Background(), time.Second, func(context.Context) error { return want }); err != want {
		t.Fatalf("Run: %v, want fn's error", err)
	}
}
