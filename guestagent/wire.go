package guestagent

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/virtwatt/virtwatt/estimate"
	"github.com/virtwatt/virtwatt/guestagent/account"
	"github.com/virtwatt/virtwatt/guestagent/follow"
	"github.com/virtwatt/virtwatt/guestagent/measure"
	"github.com/virtwatt/virtwatt/guestagent/output"
	"github.com/virtwatt/virtwatt/guestagent/procsplit"
	"github.com/virtwatt/virtwatt/guestagent/selfestimate"
)

// Outputs are the sinks and collectors a Config asks for, besides the
// agent's own metrics.
type Outputs struct {
	Sinks      []Sink
	Collectors []prometheus.Collector
}

// Options turns o into Options for New.
func (o Outputs) Options() []Option {
	var opts []Option
	for _, s := range o.Sinks {
		opts = append(opts, WithSink(s))
	}
	for _, c := range o.Collectors {
		opts = append(opts, WithCollector(c))
	}
	return opts
}

// Close closes every sink that was built (for a New that failed).
func (o Outputs) Close() {
	for _, s := range o.Sinks {
		if c, ok := s.(interface{ Close() error }); ok {
			_ = c.Close()
		}
	}
}

// BuildOutputs builds the per-process split (its collector exports
// virtwatt_process_*), and the CSV, JSON-lines and webhook outputs that cfg
// names. An output that cannot be set up is an error naming its flag.
func BuildOutputs(cfg Config, logger *slog.Logger) (Outputs, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var o Outputs
	topN := cfg.TopProcesses
	if topN == 0 {
		topN = -1 // procsplit: negative is none; 0 would be its default
	}
	split := procsplit.New(procsplit.Options{
		ProcRoot: cfg.ProcRoot, TopN: topN, Logger: logger, ScanInterval: cfg.ProcScanInterval.Duration,
	})
	o.Sinks = append(o.Sinks, &splitSink{s: split})
	o.Collectors = append(o.Collectors, split)

	if cfg.CSV != "" {
		c, err := NewCSV(cfg, logger)
		if err != nil {
			o.Close()
			return Outputs{}, err
		}
		o.Sinks = append(o.Sinks, named{c, "csv"})
	}
	if cfg.JSONL != "" {
		j, err := output.NewJSONL(cfg.JSONL)
		if err != nil {
			o.Close()
			return Outputs{}, fmt.Errorf("jsonl (--jsonl): %w", err)
		}
		o.Sinks = append(o.Sinks, named{j, "jsonl"})
	}
	if cfg.Webhook != "" {
		w, err := output.NewWebhook(output.WebhookOptions{URL: cfg.Webhook, Logger: logger})
		if err != nil {
			o.Close()
			return Outputs{}, fmt.Errorf("webhook (--webhook): %w", err)
		}
		o.Sinks = append(o.Sinks, named{w, "webhook"})
		o.Collectors = append(o.Collectors, w)
	}
	return o, nil
}

// NewCSV is the CSV output cfg names (--csv, --csv-interval), with the
// configured location and the guest's machine description.
func NewCSV(cfg Config, logger *slog.Logger) (*output.CSV, error) {
	c, err := output.NewCSV(output.CSVOptions{
		Path:     cfg.CSV,
		Interval: cfg.CSVInterval.Duration,
		Location: Location(cfg),
		Machine:  output.DetectMachine(cfg.ProcRoot),
		Logger:   logger,
	})
	if err != nil {
		return nil, fmt.Errorf("csv (--csv): %w", err)
	}
	return c, nil
}

// ShareSampler reads the share and accounts for it, one Sample per call,
// for `virtwatt-guest track` and `status`: the energy never goes backwards between calls.
// A call whose read failed returns the Sample with the read's error.
type ShareSampler struct {
	source *selfestimate.Source
	now    func() time.Time
}

// NewShareSampler is a ShareSampler over cfg's share, priced as cfg says,
// estimating from cfg's proc root while no share is usable.
func NewShareSampler(cfg Config, logger *slog.Logger) *ShareSampler {
	return &ShareSampler{source: newSource(cfg, logger), now: time.Now}
}

// newSource follows cfg's share, and estimates from cfg's proc root while
// no share is usable (package selfestimate) when cfg.Estimate. The estimator fails only when
// its embedded table does (a broken build): that is logged, and the share
// alone is followed.
func newSource(cfg Config, logger *slog.Logger) *selfestimate.Source {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var est *selfestimate.Estimator
	if cfg.Estimate {
		var err error
		if est, err = selfestimate.New(selfestimate.Options{ProcRoot: cfg.ProcRoot, Logger: logger}); err != nil {
			logger.Error("guest estimate unavailable: nothing is exported while no share is usable", "err", err)
			est = nil
		}
	}
	acct := account.New(account.Options{
		Pricing: cfg.Pricing(), PollInterval: cfg.PollInterval.Duration, Logger: logger,
	})
	return selfestimate.NewSource(follow.Reader{Dir: cfg.ShareDir}, acct, est, logger)
}

// Sample implements measure.Sampler. A read of the share that failed is an
// error, unless the Sample is the guest's own estimate.
func (m *ShareSampler) Sample(context.Context) (measure.Sample, error) {
	obs, s := m.source.Poll(m.now())
	if obs.Err != nil && !s.Estimated() {
		return s, fmt.Errorf("reading the share: %w", obs.Err)
	}
	return s, nil
}

// Location is the configured location, as CodeCarbon's CSV columns name it.
func Location(cfg Config) output.Location {
	l := output.Location{
		CountryISOCode: strings.ToUpper(cfg.Country),
		Region:         cfg.Region,
		CloudProvider:  cfg.CloudProvider,
		CloudRegion:    cfg.CloudRegion,
	}
	if cfg.Country != "" {
		if c, err := estimate.Country(cfg.Country); err == nil {
			l.CountryName, l.CountryISOCode = c.Name, c.Alpha3
		}
	}
	return l
}

// named gives an output sink its name in logs and metrics.
type named struct {
	output.Sink
	name string
}

func (n named) Name() string { return n.name }

// splitSink feeds the per-process split with the VM's total energy each
// time it changes, so that each split covers one host update. Process
// power is exported only while the VM's is known: it is cleared when the
// share is down, and when no split happened for longer than the share's
// staleness limit.
type splitSink struct {
	s         *procsplit.Splitter
	last      uint64
	have      bool
	lastSplit time.Time // sample time of the last split
}

func (p *splitSink) Name() string { return "procsplit" }

func (p *splitSink) Emit(_ context.Context, s measure.Sample) error {
	if !s.Started() {
		return nil
	}
	if !s.Up {
		p.s.ClearTop()
	}
	total := s.TotalEnergyUJ()
	if p.have && total == p.last {
		if s.StaleAfter > 0 && s.Time.Sub(p.lastSplit) > s.StaleAfter {
			p.s.ClearTop()
		}
		return nil
	}
	p.have, p.last, p.lastSplit = true, total, s.Time
	_, err := p.s.Observe(s.Time, total)
	if !s.Up {
		p.s.ClearTop() // the energy is counted; its power is not known
	} else if s.StaleAfter > 0 {
		p.s.KeepTopUntil(s.Time.Add(s.StaleAfter))
	}
	return err
}
