package output

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/internal/logcapture"
)

// TestWebhookGiveUpsDoNotFlood: an endpoint refusing every payload (a
// permanent 400) makes the webhook give up each one; that is logged once,
// not once per payload.
func TestWebhookGiveUpsDoNotFlood(t *testing.T) {
	const n = 100
	srv := newHookServer(t, 1<<30, http.StatusBadRequest, nil)
	logs, logger := logcapture.New()
	w, err := NewWebhook(WebhookOptions{URL: srv.URL, MinBackoff: time.Millisecond, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		must(t, w.Emit(context.Background(), seqSample(i)))
		waitFor(t, "the payload given up", func() bool { return w.Failed() == uint64(i+1) })
	}
	must(t, w.Close())
	var warns []string
	for _, r := range logs.Records() {
		if r.Level >= slog.LevelWarn {
			warns = append(warns, r.Message)
		}
	}
	if len(warns) < 1 || len(warns) > 3 {
		t.Fatalf("%d warnings for %d payloads given up, want 1 (a summary a minute at most): %q",
			len(warns), n, warns[:min(len(warns), 5)])
	}
}
