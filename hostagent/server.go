package hostagent

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/virtwatt/virtwatt/internal/webserver"
)

// scrapeTimeout bounds the gathering of one scrape.
const scrapeTimeout = 10 * time.Second

const landingPage = `<!doctype html>
<html><head><title>virtwatt-host</title></head>
<body>
<h1>virtwatt-host</h1>
<p>Measures the host's RAPL energy and splits it across its virtual machines.</p>
<ul>
<li><a href="/metrics">/metrics</a>: host and per-VM energy and power</li>
</ul>
<p>Meter: %s &middot; share root: <code>%s</code> &middot; idle policy: %s &middot; overhead: %s</p>
</body></html>
`

// newHandler serves the landing page at / and the metrics at /metrics.
func newHandler(cfg Config, meterName string, reg *prometheus.Registry, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		Timeout:  scrapeTimeout,
	}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, landingPage, meterName, cfg.ShareRoot, cfg.Idle, cfg.Overhead)
	})
	return mux
}

// listen binds the endpoint and validates its web config: Main calls it
// before the first tick, so a busy port or a bad web config stops the
// agent before it writes anything.
func listen(cfg Config, h http.Handler, log *slog.Logger) (*webserver.Server, error) {
	srv, err := webserver.Listen(webserver.Config{
		ListenAddress:  cfg.Listen,
		ConfigFile:     cfg.WebConfig,
		MaxConnections: cfg.MaxConns,
	}, h, log)
	if err != nil {
		return nil, fmt.Errorf("metrics endpoint (--listen, --web-config-file, --web.max-connections): %w", err)
	}
	return srv, nil
}

// newRegistry registers the agent's collectors and the Go/process ones.
func newRegistry(a *Agent, obs *Observer) (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	if err := obs.Register(reg); err != nil {
		return nil, err
	}
	for _, c := range []prometheus.Collector{
		NewCollector(a.Snapshot),
		newHostInfo(a.cfg.HostName),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return reg, nil
}
