package hostagent

import (
	"context"
	"flag"
	"log/slog"

	"github.com/virtwatt/virtwatt/hostagent/intensity"
	"github.com/virtwatt/virtwatt/hostagent/view"
)

// bindIntensityFlags registers the live intensity's flags.
func bindIntensityFlags(fs *flag.FlagSet, c *Config) {
	fs.StringVar(&c.CarbonIntensityFile, "carbon-intensity-file", c.CarbonIntensityFile,
		"JSON (Electricity Maps' shape) or CSV file another tool rewrites with the grid's current intensity")
	fs.StringVar(&c.CarbonIntensityURL, "carbon-intensity-url", c.CarbonIntensityURL,
		"HTTP endpoint answering Electricity Maps' carbon-intensity/latest JSON")
	fs.StringVar(&c.CarbonIntensityAuthFile, "carbon-intensity-auth-file", c.CarbonIntensityAuthFile,
		"file of HTTP headers sent to --carbon-intensity-url, one \"Name: value\" a line (e.g. auth-token: …)")
	fs.DurationVar(&c.CarbonIntensityRefresh, "carbon-intensity-refresh", c.CarbonIntensityRefresh,
		"time between two readings of the live intensity (0: 30s for a file, 5m for a URL)")
}

// IntensityConfig is c's intensity keys, for package intensity (doctor).
func (c Config) IntensityConfig() intensity.Config { return c.intensityConfig() }

// intensityConfig is c's intensity keys, for package intensity.
func (c Config) intensityConfig() intensity.Config {
	return intensity.Config{
		GramsPerKWh: c.CarbonIntensity, SourceText: c.CarbonIntensitySource,
		File: c.CarbonIntensityFile, URL: c.CarbonIntensityURL, AuthFile: c.CarbonIntensityAuthFile,
		Refresh: c.CarbonIntensityRefresh, UserAgent: "virtwatt-host/" + Version,
	}
}

// openIntensity opens the configured intensity source; with a live one it
// has read once, and run polls it until ctx ends (run is a no-op for the
// constant). Refused readings count in virtwatt_errors_total{stage="intensity"}.
func openIntensity(ctx context.Context, cfg Config, obs *Observer, log *slog.Logger) (src intensity.Source, run func(context.Context) error, err error) {
	src, p, err := intensity.Open(ctx, cfg.intensityConfig(), intensity.Options{
		Log:    log,
		OnFail: func(error) { obs.errors.WithLabelValues(intensity.Stage).Inc() },
	})
	if err != nil || p == nil {
		return src, func(context.Context) error { return nil }, err
	}
	return src, p.Run, nil
}

// readIntensity takes the intensity in force for this tick: every record
// the tick writes carries it, and so does the tick's view.
func (a *Agent) readIntensity() {
	v := a.src.Intensity.Current()
	a.site.CarbonIntensity, a.site.CarbonIntensitySource = v.GramsPerKWh, v.Source
	a.site.CarbonIntensityZone, a.site.CarbonIntensityTime = v.Zone, v.Time
}

// Intensity is the intensity in force at the current (or last) tick.
func (a *Agent) Intensity() intensity.Value {
	return intensity.Value{GramsPerKWh: a.site.CarbonIntensity, Source: a.site.CarbonIntensitySource,
		Zone: a.site.CarbonIntensityZone, Time: a.site.CarbonIntensityTime}
}

func (a *Agent) intensityView() view.Intensity {
	v := a.Intensity()
	if v.GramsPerKWh > 0 && v.Source == "" {
		v.Source = "host" // as the record says
	}
	return view.Intensity{GramsPerKWh: v.GramsPerKWh, Source: v.Source, Zone: v.Zone, Time: v.Time}
}
