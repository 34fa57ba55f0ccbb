package output

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/virtwatt/virtwatt/guestagent/measure"
)

// hookServer records the payloads it accepts; it answers fail() for the
// first requests and can hold requests until released.
type hookServer struct {
	*httptest.Server
	mu       sync.Mutex
	requests int
	accepted []time.Time
	failFor  int
	status   int
	hold     chan struct{}
}

func newHookServer(t *testing.T, failFor, status int, hold chan struct{}) *hookServer {
	h := &hookServer{failFor: failFor, status: status, hold: hold}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if h.hold != nil {
			select {
			case <-h.hold:
			case <-r.Context().Done():
				return
			}
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		h.requests++
		if h.requests <= h.failFor {
			w.WriteHeader(h.status)
			return
		}
		if r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(http.StatusUnsupportedMediaType)
			return
		}
		var rec Record
		if err := json.Unmarshal(body, &rec); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		h.accepted = append(h.accepted, rec.Time)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookServer) acceptedSeq() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []int
	for _, t := range h.accepted {
		out = append(out, int(t.Sub(t0)/time.Second))
	}
	return out
}

func seqSample(i int) measure.Sample {
	return measure.Sample{Time: t0.Add(time.Duration(i) * time.Second), Up: true}
}

// waitFor polls cond until it holds; it fails the test after a generous
// deadline (a hang, not a speed requirement).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestWebhookRetriesInOrderOnce(t *testing.T) {
	srv := newHookServer(t, 2, http.StatusServiceUnavailable, nil)
	w, err := NewWebhook(WebhookOptions{URL: srv.URL, MinBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		must(t, w.Emit(context.Background(), seqSample(i)))
	}
	waitFor(t, "10 payloads sent", func() bool { return w.Sent() == 10 })
	must(t, w.Close())
	got := srv.acceptedSeq()
	if len(got) != 10 {
		t.Fatalf("accepted %v, want 10 payloads", got)
	}
	for i, s := range got {
		if s != i {
			t.Fatalf("accepted %v, want 0…9 in order, each once", got)
		}
	}
	if w.Retries() != 2 || w.Failed() != 0 || w.Dropped() != 0 {
		t.Fatalf("retries %d failed %d dropped %d, want 2 0 0", w.Retries(), w.Failed(), w.Dropped())
	}
	if err := w.Emit(context.Background(), seqSample(99)); err != ErrClosed {
		t.Fatalf("Emit after Close: %v", err)
	}
}

func TestWebhookFullQueueDropsOldestWithoutBlocking(t *testing.T) {
	hold := make(chan struct{})
	srv := newHookServer(t, 0, 0, hold)
	w, err := NewWebhook(WebhookOptions{URL: srv.URL, QueueSize: 4, MinBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	must(t, w.Emit(context.Background(), seqSample(0)))
	waitFor(t, "the sender to take payload 0", func() bool { return w.Queued() == 0 })

	done := make(chan struct{})
	go func() {
		for i := 1; i < 20; i++ {
			w.Emit(context.Background(), seqSample(i))
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Emit blocked while the endpoint hangs")
	}
	if w.Dropped() != 15 || w.Queued() != 4 {
		t.Fatalf("dropped %d queued %d, want 15 and 4", w.Dropped(), w.Queued())
	}
	close(hold)
	waitFor(t, "5 payloads sent", func() bool { return w.Sent() == 5 })
	must(t, w.Close())
	got := srv.acceptedSeq()
	want := []int{0, 16, 17, 18, 19}
	if len(got) != len(want) {
		t.Fatalf("accepted %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("accepted %v, want %v (the oldest dropped)", got, want)
		}
	}
}

func TestWebhookPermanentErrorNotRetried(t *testing.T) {
	srv := newHookServer(t, 1, http.StatusBadRequest, nil)
	w, _ := NewWebhook(WebhookOptions{URL: srv.URL, MinBackoff: time.Millisecond})
	must(t, w.Emit(context.Background(), seqSample(0)))
	must(t, w.Emit(context.Background(), seqSample(1)))
	waitFor(t, "both settled", func() bool { return w.Sent()+w.Failed() == 2 })
	must(t, w.Close())
	if w.Failed() != 1 || w.Retries() != 0 || w.Sent() != 1 {
		t.Fatalf("failed %d retries %d sent %d, want 1 0 1", w.Failed(), w.Retries(), w.Sent())
	}
}

func TestWebhookGivesUpAfterMaxAttempts(t *testing.T) {
	srv := newHookServer(t, 1000, http.StatusInternalServerError, nil)
	w, _ := NewWebhook(WebhookOptions{URL: srv.URL, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond, MaxAttempts: 3})
	must(t, w.Emit(context.Background(), seqSample(0)))
	waitFor(t, "the payload given up", func() bool { return w.Failed() == 1 })
	must(t, w.Close())
	if w.Retries() != 2 {
		t.Fatalf("retries %d, want 2 (3 attempts)", w.Retries())
	}
}

func TestWebhookCloseDeadline(t *testing.T) {
	hold := make(chan struct{}) // released only at cleanup: the endpoint hangs
	srv := newHookServer(t, 0, 0, hold)
	t.Cleanup(func() { close(hold) }) // runs before the server's Close
	w, _ := NewWebhook(WebhookOptions{URL: srv.URL, DrainTimeout: 50 * time.Millisecond})
	for i := 0; i < 3; i++ {
		must(t, w.Emit(context.Background(), seqSample(i)))
	}
	err := w.Close()
	if err == nil || !strings.Contains(err.Error(), "unsent") {
		t.Fatalf("Close: %v, want an error about unsent payloads", err)
	}
	if w.Dropped() != 3 || w.Sent() != 0 {
		t.Fatalf("dropped %d sent %d, want 3 and 0", w.Dropped(), w.Sent())
	}
}

func TestWebhookBadURL(t *testing.T) {
	for _, u := range []string{"", "ftp://x/y", "not a url", "http://"} {
		if _, err := NewWebhook(WebhookOptions{URL: u}); err == nil || !strings.Contains(err.Error(), "--webhook") {
			t.Errorf("%q: err = %v", u, err)
		}
	}
}

func TestWebhookCollector(t *testing.T) {
	srv := newHookServer(t, 0, 0, nil)
	w, _ := NewWebhook(WebhookOptions{URL: srv.URL})
	defer w.Close()
	must(t, w.Emit(context.Background(), seqSample(0)))
	waitFor(t, "sent", func() bool { return w.Sent() == 1 })
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(w)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		m := mf.GetMetric()[0]
		if m.GetCounter() != nil {
			got[mf.GetName()] = m.GetCounter().GetValue()
		} else {
			got[mf.GetName()] = m.GetGauge().GetValue()
		}
	}
	if got["virtwatt_webhook_sent_total"] != 1 || len(got) != 5 {
		t.Fatalf("metrics %v", got)
	}
}
