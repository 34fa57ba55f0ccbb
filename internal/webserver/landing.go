package webserver

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
)

// Link is a link of the landing page besides /metrics.
type Link struct{ Address, Text string }

// Landing is what an agent's landing page says.
type Landing struct {
	Name        string // "virtwatt-host"
	Description string
	Links       []Link // besides /metrics
	ExtraHTML   string // trusted HTML under the links
}

// Mux serves exporter-toolkit's landing page at /, metrics at /metrics
// and the landing page's other links' handlers, given in routes.
func Mux(l Landing, metrics http.Handler, routes map[string]http.Handler) (*http.ServeMux, error) {
	links := []web.LandingLinks{{Address: "/metrics", Text: "Metrics", Description: "Prometheus metrics"}}
	for _, k := range l.Links {
		links = append(links, web.LandingLinks{Address: k.Address, Text: k.Text})
	}
	page, err := web.NewLandingPage(web.LandingConfig{
		Name:        l.Name,
		Description: l.Description,
		Version:     version.Info(),
		Links:       links,
		ExtraHTML:   l.ExtraHTML,
		Profiling:   "false",
	})
	if err != nil {
		return nil, fmt.Errorf("landing page: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", metrics)
	for p, h := range routes {
		mux.Handle(p, h)
	}
	mux.Handle("/", page)
	return mux, nil
}

// BuildInfo is virtwatt_build_info{version,revision,branch,goversion,...} 1,
// from prometheus/common/version.
func BuildInfo() prometheus.Collector { return versioncollector.NewCollector("virtwatt") }
