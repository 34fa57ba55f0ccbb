package hostagent

import (
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/virtwatt/virtwatt/hostagent/collector"
	"github.com/virtwatt/virtwatt/internal/webserver"
)

// scrapeTimeout bounds the gathering of one scrape.
const scrapeTimeout = 10 * time.Second

// newHandler serves the landing page (exporter-toolkit's) at / and the
// metrics at /metrics.
func newHandler(cfg Config, meterName string, reg *prometheus.Registry, log *slog.Logger) (http.Handler, error) {
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		Timeout:  scrapeTimeout,
	})
	return webserver.Mux(webserver.Landing{
		Name:        "virtwatt-host",
		Description: "Measures the host's RAPL energy and splits it across its virtual machines.",
		ExtraHTML: fmt.Sprintf("<p>Meter: %s &middot; share root: <code>%s</code> &middot; idle policy: %s &middot; overhead: %s</p>",
			html.EscapeString(meterName), html.EscapeString(cfg.ShareRoot), html.EscapeString(cfg.Idle), html.EscapeString(cfg.Overhead)),
	}, metrics, nil)
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
		return nil, fmt.Errorf("metrics endpoint (--web.listen-address, --web.config.file, --web.max-connections): %w", err)
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
		collector.New(a.Snapshot),
		newHostInfo(a.cfg.HostName),
		webserver.BuildInfo(),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return reg, nil
}
