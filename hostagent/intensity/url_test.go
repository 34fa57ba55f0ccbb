package intensity

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// emServer answers like Electricity Maps' carbon-intensity/latest: 401
// without the right auth-token header, else the current value.
type emServer struct {
	*httptest.Server
	value            atomic.Int64
	authorized, deny atomic.Int64
	body             atomic.Pointer[string] // overrides the answer when set
	delay            atomic.Int64           // ns before answering
}

func newEMServer(t *testing.T, token string) *emServer {
	s := &emServer{}
	s.value.Store(302)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d := s.delay.Load(); d > 0 {
			select {
			case <-time.After(time.Duration(d)):
			case <-r.Context().Done():
				return
			}
		}
		if r.Header.Get("auth-token") != token || r.URL.Query().Get("zone") != "DE" {
			s.deny.Add(1)
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"status":"error","message":"Invalid authentication token"}`)
			return
		}
		s.authorized.Add(1)
		if b := s.body.Load(); b != nil {
			fmt.Fprint(w, *b)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"zone":"DE","carbonIntensity":%d,"datetime":"2026-12-01T13:00:00.000Z","updatedAt":"2026-12-01T13:41:07.356Z",`+
			`"createdAt":"2026-11-28T13:45:00.925Z","emissionFactorType":"lifecycle","isEstimated":true,"estimationMethod":"TIME_SLICER_AVERAGE"}`,
			s.value.Load())
	}))
	t.Cleanup(s.Close)
	return s
}

func authFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "auth")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestURLSource: the value follows the server when it changes; the auth
// header from the file is sent; a wrong token, bad JSON, a null value, an
// error status, an oversized body and a redirect are refused with the last
// good value kept.
func TestURLSource(t *testing.T) {
	srv := newEMServer(t, "s3cret")
	var fails int
	c := Config{URL: srv.URL + "/v3/carbon-intensity/latest?zone=DE", AuthFile: authFile(t, "# Electricity Maps\nauth-token: s3cret\n"), GramsPerKWh: 450}
	src, p, err := Open(context.Background(), c, Options{OnFail: func(error) { fails++ }, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	want := Value{GramsPerKWh: 302, Zone: "DE", Source: "url:" + srv.URL + "/v3/carbon-intensity/latest",
		Time: time.Date(2026, 12, 1, 13, 0, 0, 0, time.UTC)}
	if got := src.Current(); got != want {
		t.Fatalf("after Open: %+v, want %+v", got, want)
	}
	srv.value.Store(150)
	if err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := src.Current().GramsPerKWh; got != 150 {
		t.Fatalf("after the server changed: %v, want 150", got)
	}
	if srv.deny.Load() != 0 || srv.authorized.Load() != 2 {
		t.Fatalf("authorized %d, denied %d: the auth header was not sent", srv.authorized.Load(), srv.deny.Load())
	}

	elsewhere := newEMServer(t, "s3cret")
	hop := httptest.NewServer(http.RedirectHandler(elsewhere.URL+"/v3/carbon-intensity/latest?zone=DE", http.StatusMovedPermanently))
	defer hop.Close()
	for _, b := range []struct{ name, body, want string }{
		{"bad json", `{"zone":"DE","carbonIntensity":`, "mid-write"},
		{"html", "<html>maintenance</html>", "not a JSON object"},
		{"null", `{"zone":"DE","carbonIntensity":null}`, "null"},
		{"absurd", `{"zone":"DE","carbonIntensity":9000}`, "above"},
		{"huge", `{"zone":"DE","carbonIntensity":300,"pad":"` + strings.Repeat("x", MaxBytes) + `"}`, "over"},
	} {
		srv.body.Store(&b.body)
		err := p.Poll(context.Background())
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Fatalf("%s: poll error %v, want one saying %q", b.name, err, b.want)
		}
		if got := src.Current().GramsPerKWh; got != 150 {
			t.Fatalf("%s: in force %v, want the last good 150", b.name, got)
		}
	}
	srv.body.Store(nil)

	for _, e := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"wrong token", Config{URL: c.URL, AuthFile: authFile(t, "auth-token: wrong\n")}, "check the token"},
		{"no token", Config{URL: c.URL}, "401"},
		{"redirect", Config{URL: hop.URL + "/", AuthFile: c.AuthFile}, "redirects are not followed"},
		{"another zone", Config{URL: srv.URL + "/v3/carbon-intensity/latest?zone=FR", AuthFile: c.AuthFile}, "401"},
	} {
		u, err := NewURL(URLOptions{URL: e.cfg.URL, AuthFile: e.cfg.AuthFile})
		if err != nil {
			t.Fatal(err)
		}
		_, err = u.Fetch(context.Background())
		if err == nil || !strings.Contains(err.Error(), e.want) {
			t.Fatalf("%s: %v, want an error saying %q", e.name, err, e.want)
		}
		if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "wrong") {
			t.Fatalf("%s: the error shows the token: %v", e.name, err)
		}
	}
	if n := elsewhere.authorized.Load() + elsewhere.deny.Load(); n != 0 {
		t.Fatalf("the redirect was followed %d times: the token went to another host", n)
	}
	if fails != 5 {
		t.Fatalf("%d refusals counted, want 5", fails)
	}
}

// TestURLTimeoutNeverBlocksCurrent: a server that does not answer is
// given up on after the timeout, and Current answers at once meanwhile.
func TestURLTimeoutNeverBlocksCurrent(t *testing.T) {
	srv := newEMServer(t, "")
	u, err := NewURL(URLOptions{URL: srv.URL + "/?zone=DE", Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	p := NewPoller(u, PollerOptions{Every: time.Hour, Fallback: Value{GramsPerKWh: 77, Source: "host"}})
	srv.delay.Store(int64(5 * time.Second))
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- p.Poll(context.Background()) }()
	time.Sleep(50 * time.Millisecond)
	t0 := time.Now()
	if got := p.Current(); got.GramsPerKWh != 77 || time.Since(t0) > 10*time.Millisecond {
		t.Fatalf("Current during a fetch: %+v after %v", got, time.Since(t0))
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a hung server's answer was accepted")
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("gave up after %v, the timeout is 300ms", d)
		}
	case <-time.After(4 * time.Second):
		t.Fatal("the fetch did not time out")
	}
}

// TestRunStopsWithContext: Run polls every period and returns when its
// context ends, even mid-fetch.
func TestRunStopsWithContext(t *testing.T) {
	srv := newEMServer(t, "")
	u, err := NewURL(URLOptions{URL: srv.URL + "/?zone=DE"})
	if err != nil {
		t.Fatal(err)
	}
	p := NewPoller(u, PollerOptions{Every: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for p.polled.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if p.Current().GramsPerKWh != 302 {
		t.Fatalf("after %d polls: %+v", p.polled.Load(), p.Current())
	}
	srv.delay.Store(int64(time.Minute))
	time.Sleep(50 * time.Millisecond) // a fetch is in flight
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Run did not stop with its context")
	}
}

// TestAuthFile: "Name: value" lines; errors say the line and never the value.
func TestAuthFile(t *testing.T) {
	h, err := ReadAuthFile(authFile(t, "# token from the portal\n\nauth-token:  tok-1 \nX-Extra: a b\n"))
	if err != nil {
		t.Fatal(err)
	}
	if h.Get("auth-token") != "tok-1" || h.Get("X-Extra") != "a b" {
		t.Fatalf("headers %v", h)
	}
	for _, c := range []struct{ in, want string }{
		{"tok-secret\n", "line 1"},
		{"# only comments\n", "no header"},
		{"bad name: tok-secret\n", "not a header name"},
		{"auth-token:\n", "empty"},
		{"auth-token: tok-secret\x01\n", "control"},
	} {
		_, err := ReadAuthFile(authFile(t, c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want an error saying %q", c.in, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "tok-secret") {
			t.Errorf("%q: the error shows the token: %v", c.in, err)
		}
	}
}

// TestURLSourceName: Electricity Maps' own API is named by zone; any other
// endpoint by its address, without the query (which may hold a token).
func TestURLSourceName(t *testing.T) {
	for _, c := range []struct{ url, want string }{
		{"https://api.electricitymaps.com/v3/carbon-intensity/latest?zone=DE", "electricitymaps:DE"},
		{"https://api.electricitymap.org/v3/carbon-intensity/latest?zone=DE", "electricitymaps:DE"},
		{"https://proxy.example/ci?token=abc", "url:https://proxy.example/ci"},
	} {
		u, err := NewURL(URLOptions{URL: c.url})
		if err != nil {
			t.Fatal(err)
		}
		if got := u.sourceName("DE"); got != c.want {
			t.Errorf("%s: %q, want %q", c.url, got, c.want)
		}
		if strings.Contains(u.Describe(), "?") {
			t.Errorf("Describe shows the query: %s", u.Describe())
		}
	}
	// A failing fetch does not show the query either.
	u, _ := NewURL(URLOptions{URL: "http://127.0.0.1:1/ci?token=abc", Timeout: time.Second})
	if _, err := u.Fetch(context.Background()); err == nil || strings.Contains(err.Error(), "abc") {
		t.Fatalf("fetch error %v shows the query", err)
	}
}
