package webserver

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/netutil"

	"github.com/virtwatt/virtwatt/internal/procinfo"
)

func ok(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }

func start(t *testing.T, s *Server) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(ShutdownTimeout + 2*time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
}

func get(addr string) error {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

func TestListenRefusesBeforeServing(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	badYAML := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(badYAML, []byte("tls_server_config:\n  cert_file: /nonexistent.crt\n  key_file: /nonexistent.key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	unknownKey := filepath.Join(dir, "typo.yml")
	if err := os.WriteFile(unknownKey, []byte("basic_auth_userz:\n  a: b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"busy port", Config{ListenAddress: busy.Addr().String()}, busy.Addr().String()},
		{"missing web config", Config{ListenAddress: "127.0.0.1:0", ConfigFile: filepath.Join(dir, "none.yml")}, "none.yml"},
		{"bad TLS paths", Config{ListenAddress: "127.0.0.1:0", ConfigFile: badYAML}, "web.yml"},
		{"unknown key", Config{ListenAddress: "127.0.0.1:0", ConfigFile: unknownKey}, "typo.yml"},
		{"cap zero after default is fine, negative is not", Config{ListenAddress: "127.0.0.1:0", MaxConnections: -1}, "web.max-connections"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Listen(tc.cfg, http.HandlerFunc(ok), nil)
			if err == nil {
				s.ln.Close()
				t.Fatal("Listen succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not name %q", err, tc.want)
			}
		})
	}
}

func TestDeadlinesSet(t *testing.T) {
	s, err := Listen(Config{ListenAddress: "127.0.0.1:0"}, http.HandlerFunc(ok), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.ln.Close()
	if s.srv.ReadHeaderTimeout <= 0 || s.srv.ReadTimeout <= 0 || s.srv.WriteTimeout <= 0 || s.srv.IdleTimeout <= 0 {
		t.Fatalf("a connection deadline is missing: %+v", s.srv)
	}
	if s.MaxConnections() != DefaultMaxConnections {
		t.Fatalf("cap %d, want the default %d", s.MaxConnections(), DefaultMaxConnections)
	}
}

// TestConnectionCap: idle clients beyond the cap are never accepted (they
// hold no descriptor of the server's), and a silent client is dropped
// after the header timeout, freeing its slot.
func TestConnectionCap(t *testing.T) {
	const limit = 4
	s, err := Listen(Config{ListenAddress: "127.0.0.1:0", MaxConnections: limit}, http.HandlerFunc(ok), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.srv.ReadHeaderTimeout = 300 * time.Millisecond
	// Count the sockets the server holds, from accept to close.
	cl := &countingListener{Listener: s.raw}
	s.ln = netutil.LimitListener(cl, s.maxConns)
	mu, peak := &cl.mu, &cl.peak
	start(t, s)
	addr := s.Addr().String()
	var idle []net.Conn
	for range 5 * limit {
		c, err := net.Dial("tcp", addr) // the kernel completes it from the backlog
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	p := *peak
	mu.Unlock()
	if p != limit {
		t.Fatalf("%d connections open at once, want the cap %d", p, limit)
	}
	// The silent ones are dropped after the header timeout, batch by
	// batch, and a real request then gets through.
	if err := get(addr); err != nil {
		t.Fatalf("a request after the silent clients: %v", err)
	}
	mu.Lock()
	p = *peak
	mu.Unlock()
	if p > limit {
		t.Fatalf("%d connections open at once, cap %d", p, limit)
	}
}

// TestCapKeepsDescriptorReserve: under a low RLIMIT_NOFILE the cap is
// lowered so that FDReserve descriptors stay free; too low a limit is
// refused with an error that says what to raise.
func TestCapKeepsDescriptorReserve(t *testing.T) {
	var orig syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
			t.Errorf("restoring RLIMIT_NOFILE: %v", err)
		}
	})
	set := func(cur uint64) {
		rl := orig
		rl.Cur = cur
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			t.Fatal(err)
		}
	}
	openNow := uint64(procinfo.OpenFDs())
	set(openNow + FDReserve + 1 + 10)
	// Descriptors of earlier tests may still be closing: about 10.
	if got, err := connectionCap(64, nil); err != nil || got < 5 || got > 15 {
		t.Fatalf("cap %d, %v under a limit leaving room for 10 connections", got, err)
	}
	set(openNow + FDReserve/2)
	if _, err := connectionCap(64, nil); err == nil || !strings.Contains(err.Error(), "RLIMIT_NOFILE") {
		t.Fatalf("a limit below the reserve: %v, want an error naming RLIMIT_NOFILE", err)
	}
}

func TestShutdownBounded(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	s, err := Listen(Config{ListenAddress: "127.0.0.1:0"}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-block // a handler stuck forever
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	go get(s.Addr().String())
	time.Sleep(200 * time.Millisecond)
	t0 := time.Now()
	cancel()
	select {
	case <-done:
		if d := time.Since(t0); d > ShutdownTimeout+time.Second {
			t.Fatalf("Run took %v to stop", d)
		}
	case <-time.After(ShutdownTimeout + 3*time.Second):
		t.Fatal("Run did not stop with a stuck handler")
	}
}

// countingListener counts the open accepted connections and their peak.
type countingListener struct {
	net.Listener
	mu         sync.Mutex
	open, peak int
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.open++
	l.peak = max(l.peak, l.open)
	l.mu.Unlock()
	return &countingConn{Conn: c, l: l}, nil
}

type countingConn struct {
	net.Conn
	l    *countingListener
	once sync.Once
}

func (c *countingConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		c.l.open--
		c.l.mu.Unlock()
	})
	return err
}
