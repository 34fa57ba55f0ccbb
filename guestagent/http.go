package guestagent

import (
	"html/template"
	"net/http"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/virtwatt/virtwatt/guestagent/measure"
	"github.com/virtwatt/virtwatt/internal/webserver"
)

// status is the /status page: the share and the last sample, as read now.
var status = template.Must(template.New("status").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>virtwatt-guest status</title>
<style>body{font-family:sans-serif;margin:2em;max-width:50em}td,th{padding:.2em .8em;text-align:left}</style></head>
<body><h1>virtwatt-guest</h1>
<p>This VM's share of its host's measured energy, read from <code>{{.ShareDir}}</code>. Version {{.Version}}.</p>
<p><a href="/">Home</a> &middot; <a href="/metrics">Metrics</a></p>
<table>
<tr><th>Share</th><td>{{if .S.Up}}up ({{.S.Mode}}){{else}}down{{end}}{{if not .S.LastUpdate.IsZero}}, last update {{.S.LastUpdate.Format "2006-01-02 15:04:05 MST"}}{{end}}</td></tr>
{{if .S.Domain}}<tr><th>VM</th><td>{{.S.Domain}} {{.S.UUID}} on {{.S.Host}}</td></tr>{{end}}
{{range .Zones}}<tr><th>{{.Zone}}</th><td>{{printf "%.3f" .Joules}} J{{if .HasPower}}, {{printf "%.2f" .Watts}} W{{end}}</td></tr>{{end}}
{{if .S.Started}}<tr><th>Emissions</th><td>{{printf "%.3f" .S.EmissionsGrams}} gCO2e at {{printf "%.1f" .S.IntensityGPerKWh}} g/kWh ({{.S.IntensitySource}}), PUE {{.S.PUE}} ({{.S.PUESource}})</td></tr>
<tr><th>Water</th><td>{{printf "%.4f" .S.WaterLiters}} L at WUE {{.S.WUE}} ({{.S.WUESource}})</td></tr>{{else}}<tr><td colspan="2">No share read yet: nothing is exported until it is.</td></tr>{{end}}
</table></body></html>
`))

type zoneRow struct {
	Zone     string
	Joules   float64
	Watts    float64
	HasPower bool
}

// Handler serves exporter-toolkit's landing page at /, the metrics at
// /metrics and the share's state at /status.
func (a *Agent) Handler() (http.Handler, error) {
	metrics := promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{
		Registry:          a.reg,
		EnableOpenMetrics: true,
		Timeout:           10 * time.Second,
	})
	statusPage := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := a.Latest()
		s.Up = s.UpAt(a.now()) // a poll stuck in a read of a dead share is down
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := status.Execute(w, struct {
			ShareDir, Version string
			S                 measure.Sample
			Zones             []zoneRow
		}{a.cfg.ShareDir, a.version, s, zoneRows(s)}); err != nil {
			a.log.Debug("status page", "err", err)
		}
	})
	return webserver.Mux(webserver.Landing{
		Name:        "virtwatt-guest",
		Description: "This VM's share of its host's measured energy: power, energy, emissions and water.",
		Links:       []webserver.Link{{Address: "/status", Text: "Status: the share and the last sample"}},
	}, metrics, map[string]http.Handler{"/status": statusPage})
}

func zoneRows(s measure.Sample) []zoneRow {
	rows := make([]zoneRow, 0, len(s.EnergyUJ))
	for z, uj := range s.EnergyUJ {
		p, ok := s.PowerW[z]
		rows = append(rows, zoneRow{Zone: z, Joules: float64(uj) / 1e6, Watts: p, HasPower: ok && s.Up})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Zone < rows[j].Zone })
	return rows
}
