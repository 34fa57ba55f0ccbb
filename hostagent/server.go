package hostagent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/exporter-toolkit/web"
)

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

// serve runs the HTTP endpoint until ctx ends.
func serve(ctx context.Context, cfg Config, meterName string, reg *prometheus.Registry, log *slog.Logger) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, landingPage, meterName, cfg.ShareRoot, cfg.Idle, cfg.Overhead)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() {
		flags := &web.FlagConfig{WebListenAddresses: &[]string{cfg.Listen}, WebConfigFile: &cfg.WebConfig}
		errc <- web.ListenAndServe(srv, flags, log)
	}()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("metrics endpoint %s: %w", cfg.Listen, err)
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	}
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
