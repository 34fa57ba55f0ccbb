package otlp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// retryPolicy is how long a refused push is retried: exponential backoff
// from initial to maxDelay (with ±20 % jitter) while the whole try stays
// under budget; a Retry-After from the collector replaces the backoff.
type retryPolicy struct {
	initial, maxDelay, budget time.Duration
}

// defaultRetry is the OTel SDK's: 5 s doubling to 30 s, for up to a minute.
var defaultRetry = retryPolicy{initial: 5 * time.Second, maxDelay: 30 * time.Second, budget: time.Minute}

// exporter POSTs encoded requests to one OTLP/HTTP metrics endpoint.
type exporter struct {
	client    *http.Client
	url       string
	headers   map[string]string
	userAgent string
	gzip      bool
	retry     retryPolicy
}

// pushError is a push that failed for good; retryable says whether the
// collector's answer was one worth trying again (used by tests and logs).
type pushError struct {
	status    int // HTTP status; 0 for a transport error
	err       error
	retryable bool
}

func (e *pushError) Error() string {
	if e.status != 0 {
		return fmt.Sprintf("collector answered %d %s%s", e.status, http.StatusText(e.status), e.detail())
	}
	return e.err.Error()
}

func (e *pushError) detail() string {
	if e.err != nil {
		return ": " + e.err.Error()
	}
	return ""
}

func (e *pushError) Unwrap() error { return e.err }

// retryable statuses, as the OTLP/HTTP specification lists them.
func retryableStatus(code int) bool {
	switch code {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// export sends body, retrying as e.retry says until ctx ends. It returns
// the points the collector reported rejecting in a partial success.
func (e *exporter) export(ctx context.Context, body []byte) (rejected int64, msg string, err error) {
	deadline := time.Now().Add(e.retry.budget)
	delay := e.retry.initial
	for attempt := 1; ; attempt++ {
		rejected, msg, wait, err := e.post(ctx, body)
		var pe *pushError
		if err == nil || !errors.As(err, &pe) || !pe.retryable {
			return rejected, msg, err
		}
		if wait == 0 {
			wait = jitter(delay)
			delay = min(2*delay, e.retry.maxDelay)
		}
		if time.Now().Add(wait).After(deadline) {
			return 0, "", fmt.Errorf("%w (gave up after %d tries: the next in %v is past the %v retry budget)", err, attempt, wait.Round(time.Millisecond), e.retry.budget)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, "", fmt.Errorf("%w (stopped retrying: %w)", err, context.Cause(ctx))
		case <-t.C:
		}
	}
}

func jitter(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()-0.5)*0.4*float64(d))
}

// post makes one request; wait is the collector's Retry-After, if any.
func (e *exporter) post(ctx context.Context, body []byte) (rejected int64, msg string, wait time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return 0, "", 0, &pushError{err: err}
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	if e.gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	req.Header.Set("User-Agent", e.userAgent)
	for k, v := range e.headers {
		req.Header.Set(k, v)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		// A collector down or unreachable, or a timeout: worth retrying
		// unless the push itself was stopped.
		return 0, "", 0, &pushError{err: err, retryable: ctx.Err() == nil}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // so the connection is reused
	if resp.StatusCode/100 == 2 {
		rejected, msg = partialSuccess(b)
		return rejected, msg, 0, nil
	}
	pe := &pushError{status: resp.StatusCode, retryable: retryableStatus(resp.StatusCode)}
	if pe.retryable {
		wait = retryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return 0, "", wait, pe
}

// retryAfter parses a Retry-After header (seconds or an HTTP date); 0
// when absent or unreadable.
func retryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.ParseUint(h, 10, 32); err == nil {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(t.Sub(now), time.Millisecond)
	}
	return 0
}
