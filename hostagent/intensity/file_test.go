package intensity

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/internal/logcapture"
)

// warnings are the Warn-level messages logged so far.
func warnings(h *logcapture.Handler) []string {
	var out []string
	for _, r := range h.Records() {
		if r.Level >= slog.LevelWarn {
			out = append(out, r.Message)
		}
	}
	return out
}

func writeAtomic(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestFileSource: a file rewritten mid-run (JSON, then CSV) is followed;
// a torn write, garbage, NaN, an absurd value and a vanished file are
// refused with the last good value kept, each counted, and logged once
// when the refusal starts or changes cause, once when it ends — not at
// every poll.
func TestFileSource(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ci.json")
	writeAtomic(t, path, `{"zone":"DE","carbonIntensity":302,"datetime":"2026-12-01T13:00:00Z"}`)
	logs, log := logcapture.New()
	var fails int
	clock := now
	c := Config{File: path, GramsPerKWh: 450, SourceText: "typed in"}
	src, p, err := Open(context.Background(), c, Options{Log: log, OnFail: func(error) { fails++ }, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	if p == nil || src != Source(p) {
		t.Fatal("a live source is not the poller")
	}
	want := Value{GramsPerKWh: 302, Zone: "DE", Source: "file:" + path, Time: time.Date(2026, 12, 1, 13, 0, 0, 0, time.UTC)}
	if got := src.Current(); got != want {
		t.Fatalf("after Open: %+v, want %+v", got, want)
	}

	steps := []struct {
		name    string
		write   func()
		want    float64 // the value in force after the poll
		refused bool
		warns   int // Warn lines logged so far
	}{
		{"rewritten as CSV", func() {
			writeAtomic(t, path, "datetime,zone,carbon_intensity_g_per_kwh\n2026-12-01T13:30:00Z,DE,280\n")
		}, 280, false, 0},
		{"torn in place", func() {
			if err := os.WriteFile(path, []byte("datetime,zone,carbon_intensity_g_per_kwh\n2026-12-01T14:00:00Z,DE,2"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, 280, true, 1},
		{"still torn: no new line", func() {}, 280, true, 1},
		{"garbage: a new cause", func() { writeAtomic(t, path, "\x00\x17garbage\nmore garbage\n") }, 280, true, 2},
		{"NaN", func() { writeAtomic(t, path, "carbon_intensity_g_per_kwh\nNaN\n") }, 280, true, 3},
		{"NaN again", func() {}, 280, true, 3},
		{"g/MWh", func() { writeAtomic(t, path, `{"carbonIntensity":280000}`) }, 280, true, 4},
		{"vanished", func() { os.Remove(path) }, 280, true, 5},
		{"back", func() { writeAtomic(t, path, `{"zone":"DE","carbonIntensity":199,"datetime":"2026-12-01T14:00:00Z"}`) }, 199, false, 5},
	}
	polls := 0
	for _, s := range steps {
		s.write()
		clock = clock.Add(30 * time.Second)
		err := p.Poll(context.Background())
		polls++
		if (err != nil) != s.refused {
			t.Fatalf("%s: poll error %v, want refused=%v", s.name, err, s.refused)
		}
		if p.good.Load() == s.refused {
			t.Fatalf("%s: Healthy() = %v", s.name, p.good.Load())
		}
		if got := src.Current().GramsPerKWh; got != s.want {
			t.Fatalf("%s: in force %v, want %v (the last good value)", s.name, got, s.want)
		}
		if w := warnings(logs); len(w) != s.warns {
			t.Fatalf("%s: %d warnings, want %d: %q", s.name, len(w), s.warns, w)
		}
	}
	if fails != 7 {
		t.Fatalf("%d refusals counted, want 7", fails)
	}
	var recovered int
	for _, r := range logs.Records() {
		if strings.Contains(r.Message, "recovered") {
			recovered++
		}
	}
	if recovered != 5 { // each cause ends once: 4 replaced by the next, the last by a good read
		t.Fatalf("%d recovered lines, want 5", recovered)
	}
	if polls != int(p.polled.Load())-1 {
		t.Fatalf("%d polls after Open's and %d more", p.polled.Load(), polls)
	}
}

// TestFileWithoutTime: a reading without a time takes the file's
// modification time, so that the age shows a writer that stopped.
func TestFileWithoutTime(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ci.csv")
	writeAtomic(t, path, "carbon_intensity_g_per_kwh\n123\n")
	mtime := now.Add(-2 * time.Hour)
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	v, err := File{Path: path, Now: func() time.Time { return now }}.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if v.GramsPerKWh != 123 || !v.Time.Equal(mtime) || v.Zone != "" || v.Source != "file:"+path {
		t.Fatalf("got %+v, want 123 g/kWh at the file's mtime %v", v, mtime)
	}
}

// TestOpenChecks: at start, a file that cannot be read, a FIFO (which
// would block), a malformed auth file and conflicting keys fail, naming
// the key and the fix; a file that exists but holds nothing good yet does
// not: the constant serves until it does.
func TestOpenChecks(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := mkfifo(fifo); err != nil {
		t.Fatal(err)
	}
	auth := filepath.Join(dir, "auth")
	if err := os.WriteFile(auth, []byte("justthetoken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		cfg  Config
		want []string
	}{
		{"missing file", Config{File: filepath.Join(dir, "nope.json")}, []string{"carbon_intensity_file", "no such file", "create it first"}},
		{"fifo", Config{File: fifo}, []string{"carbon_intensity_file", "FIFO"}},
		{"bare token", Config{URL: "http://127.0.0.1:1/", AuthFile: auth}, []string{"carbon_intensity_auth_file", "line 1", "auth-token: YOURTOKEN"}},
		{"missing auth file", Config{URL: "http://127.0.0.1:1/", AuthFile: filepath.Join(dir, "none")}, []string{"carbon_intensity_auth_file", "no such file"}},
		{"both", Config{File: auth, URL: "http://127.0.0.1:1/"}, []string{"carbon_intensity_file", "set one"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := Open(context.Background(), c.cfg, Options{})
			if err == nil {
				t.Fatal("opened")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "justthetoken") {
				t.Errorf("error %q shows the secret", err)
			}
		})
	}

	empty := filepath.Join(dir, "empty.json")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	logs, log := logcapture.New()
	src, p, err := Open(context.Background(), Config{File: empty, GramsPerKWh: 56}, Options{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	if got := src.Current(); got.GramsPerKWh != 56 || got.Source != "host" || p.good.Load() {
		t.Fatalf("before a good reading: %+v healthy=%v, want the constant", got, p.good.Load())
	}
	if len(warnings(logs)) != 2 { // the refusal, and what serves meanwhile
		t.Fatalf("warnings %q", warnings(logs))
	}

	// Without a live source: the constant, no poller.
	src, p, err = Open(context.Background(), Config{GramsPerKWh: 56, SourceText: "ember 2025"}, Options{})
	if err != nil || p != nil || src.Current() != (Value{GramsPerKWh: 56, Source: "ember 2025"}) {
		t.Fatalf("static: %+v %v %v", src.Current(), p, err)
	}
}

// TestConfigCheck: every key's problem is named, with no file or network
// touched.
func TestConfigCheck(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  Config
		key  string
	}{
		{"both", Config{File: "/a", URL: "https://x/"}, "carbon_intensity_file"},
		{"scheme", Config{URL: "ftp://x/latest"}, "carbon_intensity_url"},
		{"no host", Config{URL: "https:///v3"}, "carbon_intensity_url"},
		{"does not parse", Config{URL: "http://[::1"}, "carbon_intensity_url"},
		{"credentials", Config{URL: "https://u:p@x/"}, "carbon_intensity_url"},
		{"auth without url", Config{File: "/a", AuthFile: "/b"}, "carbon_intensity_auth_file"},
		{"refresh without source", Config{Refresh: time.Minute}, "carbon_intensity_refresh"},
		{"refresh too short", Config{File: "/a", Refresh: time.Millisecond}, "carbon_intensity_refresh"},
		{"refresh too long", Config{URL: "https://x/", Refresh: 48 * time.Hour}, "carbon_intensity_refresh"},
		{"absurd constant", Config{GramsPerKWh: 1e6}, "carbon_intensity"},
	} {
		ps := c.cfg.Check()
		if len(ps) != 1 || ps[0].Key != c.key {
			t.Errorf("%s: %+v, want one problem with %s", c.name, ps, c.key)
		}
		if len(ps) == 1 && strings.Contains(ps[0].Msg, "u:p") {
			t.Errorf("%s: the message shows the credentials: %s", c.name, ps[0].Msg)
		}
	}
	if ps := (Config{URL: "https://api.electricitymaps.com/v3/carbon-intensity/latest?zone=DE", AuthFile: "/a", Refresh: time.Minute}).Check(); len(ps) != 0 {
		t.Errorf("a good config: %+v", ps)
	}
	for _, c := range []struct {
		cfg  Config
		want time.Duration
	}{{Config{File: "/a"}, DefaultFileRefresh}, {Config{URL: "https://x/"}, DefaultURLRefresh}, {Config{URL: "https://x/", Refresh: time.Minute}, time.Minute}} {
		if got := c.cfg.RefreshOrDefault(); got != c.want {
			t.Errorf("%+v: refresh %v, want %v", c.cfg, got, c.want)
		}
	}
}
