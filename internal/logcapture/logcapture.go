// Package logcapture is an slog.Handler that keeps every record, for tests
// that assert on what was logged (how many lines, which attributes). It is
// safe for concurrent use; attributes and groups added with With are not
// kept.
package logcapture

import (
	"context"
	"log/slog"
	"sync"
)

// Handler keeps the records it handles.
type Handler struct {
	mu   sync.Mutex
	recs []slog.Record
}

// New returns a Handler and a Logger writing to it.
func New() (*Handler, *slog.Logger) {
	h := &Handler{}
	return h, slog.New(h)
}

// Enabled reports true: every level is kept.
func (h *Handler) Enabled(context.Context, slog.Level) bool { return true }

// Handle keeps a copy of r.
func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r.Clone())
	return nil
}

// WithAttrs returns h (the attributes are not kept).
func (h *Handler) WithAttrs([]slog.Attr) slog.Handler { return h }

// WithGroup returns h.
func (h *Handler) WithGroup(string) slog.Handler { return h }

// Records returns a copy of the records kept so far, in order.
func (h *Handler) Records() []slog.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]slog.Record(nil), h.recs...)
}

// With returns the records having attribute key with value (compared as
// strings), in order.
func (h *Handler) With(key, value string) []slog.Record {
	var out []slog.Record
	for _, r := range h.Records() {
		if v, ok := Attr(r, key); ok && v.String() == value {
			out = append(out, r)
		}
	}
	return out
}

// Messages returns the messages of recs.
func Messages(recs []slog.Record) []string {
	m := make([]string, len(recs))
	for i, r := range recs {
		m[i] = r.Message
	}
	return m
}

// Attr returns the value of r's attribute key.
func Attr(r slog.Record, key string) (slog.Value, bool) {
	var v slog.Value
	found := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v, found = a.Value, true
			return false
		}
		return true
	})
	return v, found
}
