package libvirtsrc

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"libvirt.org/go/libvirt"

	"github.com/virtwatt/virtwatt/hostagent/domain"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// syncBuffer is a log sink safe to write from the libvirt goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}
func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.b.String() }

// testURI is the test-driver URI of testdata/node.xml.
func testURI(t *testing.T) string {
	t.Helper()
	abs, err := filepath.Abs("testdata/node.xml")
	if err != nil {
		t.Fatal(err)
	}
	return "test://" + abs
}

func newTestSource(t *testing.T, opts Options) (*Source, *fakeClock, *syncBuffer) {
	t.Helper()
	clock := &fakeClock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	logs := &syncBuffer{}
	opts.Now = clock.Now
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, clock, logs
}

func byName(doms []domain.Domain) map[string]domain.Domain {
	m := make(map[string]domain.Domain, len(doms))
	for _, d := range doms {
		m[d.Name] = d
	}
	return m
}

func TestDomainsTestDriver(t *testing.T) {
	s, _, logs := newTestSource(t, Options{URI: testURI(t)})
	doms, err := s.Domains(context.Background())
	if err != nil {
		t.Fatalf("Domains: %v", err)
	}
	want := []struct {
		name, uuid string
		state      domain.State
		labels     map[string]string
	}{
		{"vm-a", "11111111-1111-1111-1111-111111111111", domain.StateRunning, map[string]string{"team": "infra", "project": "virtwatt"}},
		{"vm-b", "22222222-2222-2222-2222-222222222222", domain.StateRunning, map[string]string{"env": "prod"}},
		{"vm-c-paused", "33333333-3333-3333-3333-333333333333", domain.StatePaused, nil},
		{"vm-d-off", "44444444-4444-4444-4444-444444444444", domain.StateShutoff, nil},
	}
	if len(doms) != len(want) {
		t.Fatalf("got %d domains %+v, want %d", len(doms), doms, len(want))
	}
	for i, w := range want {
		d := doms[i]
		if d.Name != w.name || d.UUID != w.uuid || d.State != w.state {
			t.Errorf("domain %d = %s %s %s, want %s %s %s", i, d.Name, d.UUID, d.State, w.name, w.uuid, w.state)
		}
		if !maps.Equal(d.Labels, w.labels) {
			t.Errorf("%s labels = %v, want %v", d.Name, d.Labels, w.labels)
		}
		// test:/// reports no cpu or vcpu statistics at all.
		if d.VCPUs != 0 || d.VCPUTimeNS != 0 || d.CPUTimeNS != 0 {
			t.Errorf("%s counters = %d/%d/%d, want zeros from the test driver", d.Name, d.VCPUs, d.VCPUTimeNS, d.CPUTimeNS)
		}
	}
	if l := logs.String(); !strings.Contains(l, "cost-center") {
		t.Errorf("no log line for the dropped label cost-center; logs:\n%s", l)
	}
}

func TestLabelsCachedUntilRefresh(t *testing.T) {
	s, clock, _ := newTestSource(t, Options{URI: testURI(t), MetadataRefresh: 5 * time.Minute})
	ctx := context.Background()
	doms, err := s.Domains(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A caller changing its copy must not change the cache.
	byName(doms)["vm-a"].Labels["team"] = "mutated"

	// Change vm-a's labels behind the source's back, on its own connection
	// (each test:///file connection has a private copy of the node).
	dom, err := s.cs.conn.LookupDomainByName("vm-a")
	if err != nil {
		t.Fatal(err)
	}
	defer dom.Free()
	if err := dom.SetMetadata(libvirt.DOMAIN_METADATA_ELEMENT,
		`<labels><label name="team">platform</label></labels>`, "vw", LabelsNamespace, libvirt.DOMAIN_AFFECT_CURRENT); err != nil {
		t.Fatalf("SetMetadata: %v", err)
	}

	steps := []struct {
		advance time.Duration
		want    map[string]string
	}{
		{time.Minute, map[string]string{"team": "infra", "project": "virtwatt"}},                    // cached
		{3*time.Minute + 59*time.Second, map[string]string{"team": "infra", "project": "virtwatt"}}, // 4m59s: still cached
		{time.Second, map[string]string{"team": "platform"}},                                        // 5m: refreshed
	}
	for i, st := range steps {
		clock.Add(st.advance)
		doms, err := s.Domains(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := byName(doms)["vm-a"].Labels; !maps.Equal(got, st.want) {
			t.Errorf("step %d: vm-a labels = %v, want %v", i, got, st.want)
		}
	}
}

func TestVanishedDomainForgotten(t *testing.T) {
	s, _, _ := newTestSource(t, Options{URI: testURI(t)})
	ctx := context.Background()
	if _, err := s.Domains(ctx); err != nil {
		t.Fatal(err)
	}
	const gone = "44444444-4444-4444-4444-444444444444"
	if _, ok := s.meta[gone]; !ok {
		t.Fatalf("no cache entry for %s after the first listing", gone)
	}
	dom, err := s.cs.conn.LookupDomainByName("vm-d-off")
	if err != nil {
		t.Fatal(err)
	}
	if err := dom.Undefine(); err != nil {
		t.Fatalf("Undefine: %v", err)
	}
	dom.Free()
	doms, err := s.Domains(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(doms) != 3 {
		t.Errorf("got %d domains after undefine, want 3", len(doms))
	}
	if _, ok := byName(doms)["vm-d-off"]; ok {
		t.Error("undefined domain still listed")
	}
	if _, ok := s.meta[gone]; ok || len(s.meta) != 3 {
		t.Errorf("metadata cache = %d entries (gone one present: %v), want 3 without it", len(s.meta), ok)
	}
}

func TestBadURIBacksOff(t *testing.T) {
	dir := t.TempDir()
	node := filepath.Join(dir, "node.xml")
	uri := "test://" + node // does not exist yet
	s, clock, logs := newTestSource(t, Options{URI: uri, ReconnectMin: time.Second, ReconnectMax: 4 * time.Second})
	dials := 0
	s.dial = func(u string) (*libvirt.Connect, error) {
		dials++
		return libvirt.NewConnect(u)
	}
	ctx := context.Background()

	// advance: clock step before the call; dialed: whether that call may
	// try to connect (backoff 1s, 2s, 4s, 4s after each failure).
	steps := []struct {
		advance time.Duration
		dialed  bool
	}{
		{0, true},                        // t=0: first attempt fails, next at 1s
		{500 * time.Millisecond, false},  // t=0.5
		{500 * time.Millisecond, true},   // t=1: fails, next at 3
		{1500 * time.Millisecond, false}, // t=2.5
		{500 * time.Millisecond, true},   // t=3: fails, next at 7
		{3 * time.Second, false},         // t=6
		{time.Second, true},              // t=7: fails, next at 11 (capped at 4s)
		{3900 * time.Millisecond, false}, // t=10.9
	}
	for i, st := range steps {
		clock.Add(st.advance)
		before := dials
		doms, err := s.Domains(ctx)
		if err == nil || doms != nil {
			t.Fatalf("step %d: Domains = %v, %v; want an error", i, doms, err)
		}
		if !strings.Contains(err.Error(), uri) {
			t.Errorf("step %d: error %q does not name the URI %s", i, err, uri)
		}
		if got := dials > before; got != st.dialed {
			t.Errorf("step %d: dialed = %v, want %v (err %v)", i, got, st.dialed, err)
		}
	}

	// libvirt comes back: the next scheduled attempt succeeds.
	data, err := os.ReadFile("testdata/node.xml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(node, data, 0o644); err != nil {
		t.Fatal(err)
	}
	clock.Add(100 * time.Millisecond) // t=11
	doms, err := s.Domains(ctx)
	if err != nil {
		t.Fatalf("Domains after recovery: %v", err)
	}
	if len(doms) != 4 {
		t.Errorf("got %d domains after recovery, want 4", len(doms))
	}
	if l := logs.String(); !strings.Contains(l, `msg="connected to libvirt"`) || !strings.Contains(l, "failed_attempts=4") {
		t.Errorf("no connection log line counting 4 failed attempts; logs:\n%s", l)
	}
}

func TestNewOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{name: "defaults", opts: Options{}},
		{name: "uri without scheme", opts: Options{URI: "/var/run/libvirt"}, wantErr: "not a URI"},
		{name: "namespace not absolute", opts: Options{MetadataNS: "labels"}, wantErr: "not an absolute URI"},
		{name: "negative refresh", opts: Options{MetadataRefresh: -time.Second}, wantErr: "negative"},
		{name: "negative min", opts: Options{ReconnectMin: -time.Second, ReconnectMax: time.Second}, wantErr: "negative"},
		{name: "max below min", opts: Options{ReconnectMin: 10 * time.Second, ReconnectMax: time.Second}, wantErr: "below the minimum"},
		{name: "min above default max", opts: Options{ReconnectMin: time.Minute}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if s.opts.URI == "" || s.opts.MetadataNS == "" || s.opts.ReconnectMax < s.opts.ReconnectMin || s.opts.MetadataRefresh <= 0 {
				t.Errorf("defaults not applied: %+v", s.opts)
			}
		})
	}
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.opts.URI != DefaultURI || s.opts.MetadataNS != LabelsNamespace || s.opts.ReconnectMin != time.Second || s.opts.ReconnectMax != 30*time.Second {
		t.Errorf("zero Options gave %+v", s.opts)
	}
}

func TestDomainsHonoursContext(t *testing.T) {
	s, _, _ := newTestSource(t, Options{URI: testURI(t)})
	dials := 0
	s.dial = func(u string) (*libvirt.Connect, error) { dials++; return libvirt.NewConnect(u) }

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Domains(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: err = %v, want context.Canceled", err)
	}
	if dials != 0 {
		t.Errorf("cancelled context still dialed libvirt %d times", dials)
	}

	// A previous call still talking to libvirt (simulated by holding the
	// token): Domains gives up when its context does.
	s.busy <- struct{}{}
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := s.Domains(ctx)
	<-s.busy
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), s.opts.URI) {
		t.Errorf("busy source: err = %v, want DeadlineExceeded naming the URI", err)
	}
}

func TestClose(t *testing.T) {
	s, _, _ := newTestSource(t, Options{URI: testURI(t)})
	if _, err := s.Domains(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := s.Domains(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Domains after Close: err = %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestDomainHandlesFreed checks that every virDomain handle of the bulk
// stats is freed: each holds a reference on the connection, so the
// connection's last Close must report no references left.
func TestDomainHandlesFreed(t *testing.T) {
	s, clock, _ := newTestSource(t, Options{URI: testURI(t)})
	for range 3 {
		if _, err := s.Domains(context.Background()); err != nil {
			t.Fatal(err)
		}
		clock.Add(10 * time.Minute) // refresh labels too: GetMetadata on each handle
	}
	refs, err := s.cs.conn.Close()
	s.cs.conn = nil
	if err != nil || refs != 0 {
		t.Errorf("connection Close = %d references left, %v; want 0 (leaked domain handles)", refs, err)
	}
}

func BenchmarkDomains(b *testing.B) {
	abs, err := filepath.Abs("testdata/node.xml")
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(Options{URI: "test://" + abs, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for b.Loop() {
		if _, err := s.Domains(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// TestReconnectAfterLoss drops a live connection as a failed call with a
// connection error would, and checks that the next call reconnects at once.
func TestReconnectAfterLoss(t *testing.T) {
	s, clock, logs := newTestSource(t, Options{URI: testURI(t)})
	dials := 0
	s.dial = func(u string) (*libvirt.Connect, error) { dials++; return libvirt.NewConnect(u) }
	ctx := context.Background()
	if _, err := s.Domains(ctx); err != nil {
		t.Fatal(err)
	}
	lost := libvirt.Error{Code: libvirt.ERR_SYSTEM_ERROR, Message: "End of file while reading data"}
	if !connectionError(lost) {
		t.Fatal("EOF system error not classified as a connection error")
	}
	s.drop(clock.Now(), lost)
	clock.Add(time.Second)
	doms, err := s.Domains(ctx)
	if err != nil || len(doms) != 4 {
		t.Fatalf("Domains after loss = %d domains, %v; want 4, nil", len(doms), err)
	}
	if dials != 2 {
		t.Errorf("dialed %d times, want 2 (initial and reconnect)", dials)
	}
	l := logs.String()
	for _, want := range []string{"libvirt connection lost", "libvirt connection restored", "down_for=1s"} {
		if !strings.Contains(l, want) {
			t.Errorf("logs lack %q:\n%s", want, l)
		}
	}
}

// A domain whose metadata has a bad label logs it once, not at every
// refresh; a change to its problems logs again.
func TestLabelProblemsLoggedOnce(t *testing.T) {
	s, clock, logs := newTestSource(t, Options{URI: testURI(t), MetadataRefresh: time.Minute})
	ctx := context.Background()
	for range 5 {
		if _, err := s.Domains(ctx); err != nil {
			t.Fatal(err)
		}
		clock.Add(time.Minute)
	}
	if n := strings.Count(logs.String(), "label=cost-center"); n != 1 {
		t.Fatalf("dropped label logged %d times over 5 refreshes, want 1; logs:\n%s", n, logs.String())
	}
	dom, err := s.cs.conn.LookupDomainByName("vm-a")
	if err != nil {
		t.Fatal(err)
	}
	defer dom.Free()
	if err := dom.SetMetadata(libvirt.DOMAIN_METADATA_ELEMENT,
		`<labels><label name="bad-name">x</label></labels>`, "vw", LabelsNamespace, libvirt.DOMAIN_AFFECT_CURRENT); err != nil {
		t.Fatalf("SetMetadata: %v", err)
	}
	for range 3 {
		if _, err := s.Domains(ctx); err != nil {
			t.Fatal(err)
		}
		clock.Add(time.Minute)
	}
	if n := strings.Count(logs.String(), "label=bad-name"); n != 1 {
		t.Fatalf("new label problem logged %d times over 3 refreshes, want 1; logs:\n%s", n, logs.String())
	}
}
