package hostguest

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/guestagent"
	"github.com/virtwatt/virtwatt/hostagent"
	"github.com/virtwatt/virtwatt/internal/cli"
	"github.com/virtwatt/virtwatt/tests/testbin"
)

// TestCommandLineConventions drives both real binaries the way the
// Prometheus ecosystem's exporters are driven: the host with the old flag
// names (deprecated aliases: they work, with one warning each) and JSON
// logs, the guest with the old TOML key `listen` and logfmt logs; both
// serve exporter-toolkit's landing page, virtwatt_build_info, and
// metrics promtool accepts.
func TestCommandLineConventions(t *testing.T) {
	hostBin, guestBin := testbin.Build(t)
	dir := t.TempDir()
	hostAddr, guestAddr := testbin.FreePort(t), testbin.FreePort(t)
	host := testbin.Start(t, hostBin, "--demo", "--share-root", filepath.Join(dir, "vms"), "--state-file", filepath.Join(dir, "state.json"),
		"--listen", hostAddr, "--log-level", "info", "--listen", hostAddr, "--log.format", "json", "--interval", "500ms")
	testbin.WaitFor(t, "host endpoint (--listen alias)", 10*time.Second, func() bool { return testbin.Up(hostAddr) })

	conf := filepath.Join(dir, "guest.toml")
	if err := os.WriteFile(conf, []byte("listen = \""+guestAddr+"\"\nshare_dir = \""+filepath.Join(dir, "vms", "demo-web")+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	guest := testbin.Start(t, guestBin, "--config", conf, "--log.format", "logfmt", "--poll-interval", "200ms", "--top-processes", "0")
	testbin.WaitFor(t, "guest endpoint (listen key alias)", 10*time.Second, func() bool { return testbin.Up(guestAddr) })
	testbin.WaitFor(t, "guest share_up", 10*time.Second, func() bool { return testbin.Scrape(t, guestAddr)["virtwatt_share_up"] == 1 })

	for _, ep := range []struct{ name, addr string }{{"virtwatt-host", hostAddr}, {"virtwatt-guest", guestAddr}} {
		var info int
		for k, v := range testbin.Scrape(t, ep.addr) {
			if strings.HasPrefix(k, "virtwatt_build_info{") {
				info++
				for _, l := range []string{`version="dev"`, `goversion="go`, `revision="`, `branch="`} {
					if !strings.Contains(k, l) || v != 1 {
						t.Errorf("%s: %s %v lacks %s or is not 1", ep.name, k, v, l)
					}
				}
			}
		}
		if info != 1 {
			t.Errorf("%s: %d virtwatt_build_info series, want 1", ep.name, info)
		}
		page := get(t, "http://"+ep.addr+"/")
		for _, want := range []string{"<h1>" + ep.name + "</h1>", `href="/metrics"`, "Version: (version=dev"} {
			if !strings.Contains(page, want) {
				t.Errorf("%s landing page lacks %q:\n%s", ep.name, want, page)
			}
		}
		testbin.CheckMetrics(t, ep.name, get(t, "http://"+ep.addr+"/metrics"))
	}
	if page := get(t, "http://"+guestAddr+"/status"); !strings.Contains(page, "up (") {
		t.Errorf("guest /status does not show the share up:\n%s", page)
	}

	// Logs: one warning per alias used, in the format asked for.
	hostLog, guestLog := host.Log(), guest.Log()
	for _, c := range []struct{ log, want string }{
		{hostLog, "flag --listen is deprecated"},
		{hostLog, "flag --log-level is deprecated"},
		{guestLog, `key \"listen\" is deprecated`},
	} {
		if n := strings.Count(c.log, c.want); n != 1 {
			t.Errorf("%d log lines with %q, want 1:\n%s", n, c.want, c.log)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(hostLog), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("host --log.format json wrote a line that is not JSON: %q", line)
		}
		for _, k := range []string{"time", "level", "source", "msg"} {
			if _, ok := rec[k]; !ok {
				t.Errorf("host JSON log line lacks %q: %s", k, line)
			}
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(guestLog), "\n") {
		if !strings.HasPrefix(line, "time=") || !strings.Contains(line, " level=") || !strings.Contains(line, " msg=") {
			t.Errorf("guest logfmt line is not time=... level=... msg=...: %q", line)
		}
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, b)
	}
	return string(b)
}

// TestSameKeysOnBothAgents: every setting both agents have is spelled the
// same in both TOML files, and is its flag's name with '.' and '-' as '_'.
func TestSameKeysOnBothAgents(t *testing.T) {
	host, guest := map[string]bool{}, map[string]bool{}
	for _, k := range cli.Keys(&hostagent.Config{}) {
		host[k] = true
	}
	for _, k := range cli.Keys(&guestagent.Config{}) {
		guest[k] = true
	}
	for _, f := range []string{cli.FlagListenAddress, cli.FlagWebConfigFile, cli.FlagMaxConnections, cli.FlagLogLevel, cli.FlagLogFormat,
		"proc-root", "pue", "wue", "carbon-intensity"} {
		k := cli.Key(f)
		if !host[k] || !guest[k] {
			t.Errorf("--%s: key %s on host %v, on guest %v; want both", f, k, host[k], guest[k])
		}
	}
	// The one exception to the rule: --otlp.* are the keys of an [otlp] table.
	for _, k := range []string{"otlp.endpoint", "otlp.headers", "otlp.interval"} {
		if !host[k] || !guest[k] {
			t.Errorf("key %s on host %v, on guest %v; want both", k, host[k], guest[k])
		}
	}
	for _, old := range []string{"listen"} {
		if host[old] || guest[old] {
			t.Errorf("old key %q is still a field's key (it is a deprecated alias)", old)
		}
	}
}
