package output

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/virtwatt/virtwatt/estimate"
	"github.com/virtwatt/virtwatt/guestagent/measure"
	"github.com/virtwatt/virtwatt/share"
)

// DefaultCSVInterval is --csv-interval's default.
const DefaultCSVInterval = 60 * time.Second

// CSVOptions configures a CSV sink.
type CSVOptions struct {
	Path         string        // --csv FILE
	Interval     time.Duration // --csv-interval; default 60s
	ProjectName  string        // default "virtwatt"
	ExperimentID string
	RunID        string // default: a random UUID per agent run
	Location     Location
	Machine      Machine // see DetectMachine
	Logger       *slog.Logger
	Now          func() time.Time // names rotated files; default time.Now
}

// CSV appends CodeCarbon-compatible rows to a file: every Interval, a row
// with the run's totals so far (duration, energy, emissions and water since
// the agent's first sample), the way CodeCarbon's tracker writes a run.
//
// The figures mean what CodeCarbon's mean (codecarbon/emissions_tracker.py,
// _do_measurements and _prepare_emissions_data): each zone's energy is
// multiplied by the PUE in force before it is accumulated, so cpu_energy,
// ram_energy and energy_consumed are facility energy, water_consumed is
// WUE × that energy, and emissions / energy_consumed is the carbon
// intensity; cpu_power and ram_power are the run's average IT power (the
// zone's IT energy over the run's duration; CodeCarbon does not apply PUE
// to power). The Prometheus metrics stay IT energy, virtwatt_pue beside
// them. GPU cells are empty: nothing measures a GPU. A
// new or empty file gets the header first; a file whose header is not
// exactly CodeCarbonColumns, in that order, is moved aside to
// FILE.bak-<time> and started anew, as CodeCarbon does (see
// CodeCarbonColumns for why the order matters too). Each row is one
// write(2) on a file opened for appending, without fsync.
type CSV struct {
	opts CSVOptions
	log  *slog.Logger

	mu       sync.Mutex
	start    measure.Sample
	last     measure.Sample
	started  bool
	lastRow  time.Time
	verified os.FileInfo // the file whose header was checked

	// Facility (PUE-included) energy per zone and water since start,
	// accumulated sample by sample at the PUE and WUE in force.
	facilityKWh map[string]float64
	waterL      float64
}

// NewCSV returns a CSV sink for opts.Path. The file is created on the first
// row; NewCSV only checks that its directory exists.
func NewCSV(opts CSVOptions) (*CSV, error) {
	if opts.Path == "" {
		return nil, errors.New("csv: no file given (--csv FILE)")
	}
	if fi, err := os.Stat(filepath.Dir(opts.Path)); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("csv: directory of %s: not a directory or %v (create it, or fix --csv)", opts.Path, err)
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultCSVInterval
	}
	if opts.ProjectName == "" {
		opts.ProjectName = "virtwatt"
	}
	if opts.RunID == "" {
		opts.RunID = newUUID()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &CSV{opts: opts, log: log}, nil
}

// Emit writes a row when Interval has passed since the last one (or since
// the run's first sample). Samples made before the share was ever read are
// ignored.
func (c *CSV) Emit(_ context.Context, s measure.Sample) error {
	if !s.Started() {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.started {
		c.start, c.last, c.started, c.lastRow = s, s, true, s.Time
		c.facilityKWh = map[string]float64{}
		return nil
	}
	c.accumulate(s)
	c.last = s
	if s.Time.Sub(c.lastRow) < c.opts.Interval {
		return nil
	}
	c.lastRow = s.Time
	return c.writeLocked(c.runRow(s))
}

// Close writes a last row with the run's totals when samples came since the
// last row, like CodeCarbon's tracker.stop().
func (c *CSV) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.started || !c.last.Time.After(c.lastRow) {
		return nil
	}
	c.lastRow = c.last.Time
	return c.writeLocked(c.runRow(c.last))
}

// WriteRow appends one row (track writes its command's own row this way).
// Empty ProjectName, RunID, Location and Machine take the sink's.
func (c *CSV) WriteRow(r Row) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r.ProjectName == "" {
		r.ProjectName = c.opts.ProjectName
	}
	if r.RunID == "" {
		r.RunID = c.opts.RunID
	}
	if r.ExperimentID == "" {
		r.ExperimentID = c.opts.ExperimentID
	}
	if r.Location == (Location{}) {
		r.Location = c.opts.Location
	}
	if r.Machine.OS == "" && r.Machine.CPUCount == 0 {
		r.Machine = c.opts.Machine
	}
	return c.writeLocked(r)
}

// accumulate adds the energy since the last sample, per zone, at the PUE
// and WUE in force at s (the prices the guest's accountant priced that
// energy at), as CodeCarbon's _do_measurements does.
func (c *CSV) accumulate(s measure.Sample) {
	pue, wue := PUEFactor(s.PUE), finiteNonNeg(s.WUE)
	for z, v := range s.EnergyUJ {
		prev := c.last.EnergyUJ[z]
		if v <= prev {
			continue // counters never go back; nothing new
		}
		kwh := estimate.KWh(v-prev) * pue
		c.facilityKWh[z] += kwh
		c.waterL += kwh * wue
	}
}

// runRow is the run's totals at s, in CodeCarbon's units and meaning (see CSV).
func (c *CSV) runRow(s measure.Sample) Row {
	dur := s.Time.Sub(c.start.Time).Seconds()
	kg := nonNeg(s.EmissionsGrams-c.start.EmissionsGrams) / 1000
	var total float64
	for _, kwh := range c.facilityKWh {
		total += kwh
	}
	r := Row{
		Timestamp:    s.Time.Format(TimestampLayout),
		ProjectName:  c.opts.ProjectName,
		RunID:        c.opts.RunID,
		ExperimentID: c.opts.ExperimentID,
		DurationS:    dur,
		EmissionsKg:  kg,
		CPUEnergyKWh: c.facilityKWh[share.ZonePackage],
		RAMEnergyKWh: c.facilityKWh[share.ZoneDRAM],
		EnergyKWh:    total,
		WaterL:       c.waterL,
		Location:     c.opts.Location,
		Machine:      c.opts.Machine,
		TrackingMode: "machine",
		PUE:          s.PUE,
		WUE:          s.WUE,
	}
	if dur > 0 {
		r.EmissionsKgS = kg / dur
		r.CPUPowerW = c.averagePower(s, share.ZonePackage, dur)
		r.RAMPowerW = c.averagePower(s, share.ZoneDRAM, dur)
	}
	return r
}

// averagePower is the zone's average IT power over the run: its IT energy
// since start over dur (0 for a zone not measured at all).
func (c *CSV) averagePower(s measure.Sample, zone string, dur float64) *float64 {
	var w float64
	if v, p := s.EnergyUJ[zone], c.start.EnergyUJ[zone]; v > p {
		w = float64(v-p) / 1e6 / dur
	}
	return &w
}

// PUEFactor is the factor CodeCarbon multiplies energy by: pue, or 1 when
// pue is below 1, NaN or infinite (never a factor that lowers energy or
// makes it Inf).
func PUEFactor(pue float64) float64 {
	if !(pue >= 1) || math.IsInf(pue, 0) {
		return 1
	}
	return pue
}

func finiteNonNeg(x float64) float64 {
	if !(x > 0) || math.IsInf(x, 0) {
		return 0
	}
	return x
}

func (c *CSV) writeLocked(r Row) error {
	path := c.opts.Path
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("csv: open %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("csv: stat %s: %w", path, err)
	}
	if fi.Size() > 0 && (c.verified == nil || !os.SameFile(c.verified, fi)) {
		ok, err := headerMatches(path)
		if err != nil {
			return err
		}
		if !ok {
			f.Close()
			bak, err := c.rotate(path)
			if err != nil {
				return err
			}
			c.log.Warn("csv: the file's header differs from CodeCarbon's emissions.csv columns (or their order); moved it aside and started a new file",
				"file", path, "backup", bak)
			if f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err != nil {
				return fmt.Errorf("csv: open %s: %w", path, err)
			}
			defer f.Close()
			if fi, err = f.Stat(); err != nil {
				return fmt.Errorf("csv: stat %s: %w", path, err)
			}
		}
		c.verified = fi
	}

	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	if fi.Size() == 0 {
		w.Write(CodeCarbonColumns)
		c.verified = fi
	}
	w.Write(r.Record())
	w.Flush()
	if err := w.Error(); err != nil {
		return fmt.Errorf("csv: encode row: %w", err)
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("csv: append to %s: %w", path, err)
	}
	return nil
}

// headerMatches reads the file's header: true when it is exactly
// CodeCarbonColumns, in that order.
func headerMatches(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("csv: read header of %s: %w", path, err)
	}
	defer f.Close()
	r := csv.NewReader(bufio.NewReader(io.LimitReader(f, 64<<10)))
	r.FieldsPerRecord = -1
	head, err := r.Read()
	if err != nil {
		return false, nil // garbled or no complete header line: not ours
	}
	return slices.Equal(head, CodeCarbonColumns), nil
}

// rotate moves path to path.bak-<time>, never over an existing file.
func (c *CSV) rotate(path string) (string, error) {
	base := path + ".bak-" + c.opts.Now().Format("20060102T150405")
	bak := base
	for i := 1; ; i++ {
		if _, err := os.Lstat(bak); errors.Is(err, os.ErrNotExist) {
			break
		}
		bak = fmt.Sprintf("%s-%d", base, i)
	}
	if err := os.Rename(path, bak); err != nil {
		return "", fmt.Errorf("csv: move %s aside: %w", path, err)
	}
	return bak, nil
}

func nonNeg(x float64) float64 {
	if x > 0 {
		return x
	}
	return 0
}

// newUUID returns a random (version 4) UUID, as CodeCarbon's run_id.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Name names the sink in logs and metrics.
func (c *CSV) Name() string { return "csv" }
