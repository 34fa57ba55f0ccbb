package output

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"
)

// countLog counts the records at warning level or above.
type countLog struct {
	mu    sync.Mutex
	warns []string
}

func (c *countLog) Enabled(context.Context, slog.Level) bool { return true }
func (c *countLog) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		c.mu.Lock()
		c.warns = append(c.warns, r.Message)
		c.mu.Unlock()
	}
	return nil
}
func (c *countLog) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *countLog) WithGroup(string) slog.Handler      { return c }

// TestWebhookGiveUpsDoNotFlood: an endpoint refusing every payload (a
// permanent 400) makes the webhook give up each one; that is logged once,
// not once per payload.
func TestWebhookGiveUpsDoNotFlood(t *testing.T) {
	const n = 100
	srv := newHookServer(t, 1<<30, http.StatusBadRequest, nil)
	logs := &countLog{}
	w, err := NewWebhook(WebhookOptions{URL: srv.URL, MinBackoff: time.Millisecond, Logger: slog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		must(t, w.Emit(context.Background(), seqSample(i)))
		waitFor(t, "the payload given up", func() bool { return w.Failed() == uint64(i+1) })
	}
	must(t, w.Close())
	logs.mu.Lock()
	defer logs.mu.Unlock()
	if len(logs.warns) < 1 || len(logs.warns) > 3 {
		t.Fatalf("%d warnings for %d payloads given up, want 1 (a summary a minute at most): %q",
			len(logs.warns), n, logs.warns[:min(len(logs.warns), 5)])
	}
}
