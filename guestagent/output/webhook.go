package output

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/virtwatt/virtwatt/guestagent/measure"
	"github.com/virtwatt/virtwatt/internal/condlog"
)

// Webhook defaults.
const (
	DefaultWebhookQueue   = 256
	DefaultWebhookTimeout = 10 * time.Second
	DefaultMinBackoff     = 500 * time.Millisecond
	DefaultMaxBackoff     = 30 * time.Second
	DefaultMaxAttempts    = 5
	DefaultDrainTimeout   = 5 * time.Second
)

// ErrClosed is returned by Emit after Close.
var ErrClosed = errors.New("output: sink closed")

// WebhookOptions configures a Webhook. Zero values take the defaults.
type WebhookOptions struct {
	URL          string        // --webhook URL (http or https)
	QueueSize    int           // payloads waiting; when full the oldest is dropped
	Timeout      time.Duration // per request
	MinBackoff   time.Duration // first wait after a failed attempt; doubles up to MaxBackoff
	MaxBackoff   time.Duration
	MaxAttempts  int           // attempts per payload before it is given up (counted as failed)
	DrainTimeout time.Duration // how long Close waits for the queue to empty
	Client       *http.Client
	Logger       *slog.Logger
}

// Webhook POSTs each Sample's Record as JSON to a URL. Emit only queues:
// one background goroutine sends the queue in order, retrying a failed
// payload with exponential backoff before the next, so that payloads arrive
// once each and in order while the endpoint recovers. A 4xx answer other
// than 408 and 429 is not retried. When the queue is full the oldest
// payload is dropped and counted.
type Webhook struct {
	opts    WebhookOptions
	log     *slog.Logger
	giveUps *condlog.Logger // payloads given up: once, a summary a minute, once recovered

	mu     sync.Mutex
	queue  [][]byte
	closed bool
	wake   chan struct{}
	done   chan struct{} // closed when the sender exits
	stop   chan struct{} // closed by Close to end the sender
	ctx    context.Context
	cancel context.CancelFunc

	sent, failed, dropped, retries atomic.Uint64
}

// NewWebhook validates opts.URL and starts the sender.
func NewWebhook(opts WebhookOptions) (*Webhook, error) {
	u, err := url.Parse(opts.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("webhook: %q is not an http(s) URL (fix --webhook)", opts.URL)
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultWebhookQueue
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultWebhookTimeout
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = DefaultMinBackoff
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(DefaultMaxBackoff, opts.MinBackoff)
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = DefaultDrainTimeout
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: opts.Timeout}
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &Webhook{
		opts: opts, log: log,
		wake: make(chan struct{}, 1), done: make(chan struct{}), stop: make(chan struct{}),
		ctx: ctx, cancel: cancel,
	}
	w.giveUps = condlog.New(log, condlog.Options{ClearAfter: time.Minute})
	go w.run()
	return w, nil
}

// Emit queues s and returns at once.
func (w *Webhook) Emit(_ context.Context, s measure.Sample) error {
	b, err := json.Marshal(NewRecord(s))
	if err != nil {
		return fmt.Errorf("webhook: encode sample: %w", err)
	}
	return w.enqueue(b)
}

func (w *Webhook) enqueue(b []byte) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	if len(w.queue) >= w.opts.QueueSize {
		w.queue[0] = nil
		w.queue = w.queue[1:]
		w.dropped.Add(1)
	}
	w.queue = append(w.queue, b)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return nil
}

// Sent is the number of payloads the endpoint accepted (2xx).
func (w *Webhook) Sent() uint64 { return w.sent.Load() }

// Failed is the number of payloads given up after their attempts or
// refused for good (4xx).
func (w *Webhook) Failed() uint64 { return w.failed.Load() }

// Dropped is the number of payloads dropped from a full queue or left
// unsent when Close's deadline passed.
func (w *Webhook) Dropped() uint64 { return w.dropped.Load() }

// Retries is the number of failed attempts that were retried.
func (w *Webhook) Retries() uint64 { return w.retries.Load() }

// Queued is the number of payloads waiting.
func (w *Webhook) Queued() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.queue)
}

// Close stops accepting payloads and waits up to DrainTimeout for the
// queue to be sent; what is left is dropped and counted, and an error says
// how many.
func (w *Webhook) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	close(w.stop)
	select {
	case w.wake <- struct{}{}:
	default:
	}
	timer := time.NewTimer(w.opts.DrainTimeout)
	defer timer.Stop()
	select {
	case <-w.done:
	case <-timer.C:
		w.cancel() // abort the request and backoff in flight
		<-w.done
	}
	w.cancel()
	w.mu.Lock()
	left := len(w.queue)
	w.queue = nil
	w.mu.Unlock()
	if left > 0 {
		w.dropped.Add(uint64(left))
		return fmt.Errorf("webhook: %d payloads unsent after %s, dropped", left, w.opts.DrainTimeout)
	}
	return nil
}

// run sends the queue in order until Close has been called and the queue
// is empty, or until the context is cancelled.
func (w *Webhook) run() {
	defer close(w.done)
	for {
		w.mu.Lock()
		var b []byte
		if len(w.queue) > 0 {
			b = w.queue[0]
			w.queue[0] = nil
			w.queue = w.queue[1:]
		}
		w.mu.Unlock()
		if b == nil {
			select {
			case <-w.wake:
				continue
			case <-w.stop:
				w.mu.Lock()
				empty := len(w.queue) == 0
				w.mu.Unlock()
				if empty {
					return
				}
				continue
			case <-w.ctx.Done():
				return
			}
		}
		if !w.deliver(b) && w.ctx.Err() != nil {
			// Aborted by Close's deadline: the payload counts as dropped.
			w.dropped.Add(1)
			return
		}
	}
}

// deliver sends one payload with retries; it reports whether the payload
// is settled (sent or given up).
func (w *Webhook) deliver(b []byte) bool {
	backoff := w.opts.MinBackoff
	for attempt := 1; ; attempt++ {
		permanent, err := w.post(b)
		if err == nil {
			w.sent.Add(1)
			w.giveUps.OK("webhook")
			w.giveUps.Flush()
			return true
		}
		if w.ctx.Err() != nil {
			return false
		}
		if permanent || attempt >= w.opts.MaxAttempts {
			w.failed.Add(1)
			w.giveUps.Fail("webhook", "", fmt.Errorf("payload given up after %d attempts: %w", attempt, err))
			w.giveUps.Flush()
			return true
		}
		w.retries.Add(1)
		w.log.Debug("webhook: attempt failed, retrying", "url", w.opts.URL, "attempt", attempt, "backoff", backoff, "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-w.ctx.Done():
			t.Stop()
			return false
		}
		backoff = min(backoff*2, w.opts.MaxBackoff)
	}
}

func (w *Webhook) post(b []byte) (permanent bool, err error) {
	ctx, cancel := context.WithTimeout(w.ctx, w.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.opts.URL, bytes.NewReader(b))
	if err != nil {
		return true, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "virtwatt-guest")
	resp, err := w.opts.Client.Do(req)
	if err != nil {
		return false, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode >= 400 && resp.StatusCode < 500 &&
		resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests:
		return true, fmt.Errorf("POST %s: %s", w.opts.URL, resp.Status)
	default:
		return false, fmt.Errorf("POST %s: %s", w.opts.URL, resp.Status)
	}
}

// Name names the sink in logs and metrics.
func (w *Webhook) Name() string { return "webhook" }
