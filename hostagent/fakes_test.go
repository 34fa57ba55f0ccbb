package hostagent

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/virtwatt/virtwatt/hostagent/domain"
	"github.com/virtwatt/virtwatt/hostagent/meter"
	"github.com/virtwatt/virtwatt/internal/procstat"
)

// fakeHost is a scripted hypervisor: a tick advances every counter by
// random amounts; counters wrap at a small range.
type fakeHost struct {
	mu      sync.Mutex
	rng     *rand.Rand
	now     time.Time
	cpus    int
	sockets int
	rangeUJ uint64
	energy  map[string]uint64 // kind/socket → raw counter
	total   map[string]uint64 // kind/socket → unwrapped energy since creation
	busy    uint64
	doms    []domain.Domain
	failDom bool
}

func newFakeHost(seed uint64, ndoms int) *fakeHost {
	h := &fakeHost{
		rng:     rand.New(rand.NewPCG(seed, 1)),
		now:     time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC),
		cpus:    16,
		sockets: 2,
		rangeUJ: 50_000_000, // 50 J: wraps every tick or two
		energy:  map[string]uint64{},
		total:   map[string]uint64{},
	}
	for i := 0; i < ndoms; i++ {
		h.doms = append(h.doms, domain.Domain{
			UUID: uuidFor(i), Name: nameFor(i), State: domain.StateRunning, VCPUs: 1 + i%4,
		})
	}
	return h
}

func uuidFor(i int) string { return "00000000-0000-4000-8000-" + pad12(i) }
func nameFor(i int) string { return "vm-" + pad12(i) }
func pad12(i int) string {
	b := []byte("000000000000")
	for p := 11; p >= 0 && i > 0; p-- {
		b[p] = byte('0' + i%10)
		i /= 10
	}
	return string(b)
}

// advance moves time by d and every counter accordingly.
func (h *fakeHost) advance(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.now = h.now.Add(d)
	for s := 0; s < h.sockets; s++ {
		for _, k := range []string{meter.KindPackage, meter.KindDRAM, meter.KindCore} {
			key := hostKey(k, s)
			e := uint64(h.rng.IntN(40_000_000))
			h.energy[key] = (h.energy[key] + e) % h.rangeUJ
			h.total[key] += e
		}
	}
	capNS := uint64(d.Nanoseconds()) * uint64(h.cpus)
	var vsum uint64
	for i := range h.doms {
		if h.doms[i].State != domain.StateRunning {
			continue
		}
		v := uint64(h.rng.Int64N(d.Nanoseconds())) * uint64(h.doms[i].VCPUs) / 4
		h.doms[i].VCPUTimeNS += v
		h.doms[i].CPUTimeNS += v + v/20
		vsum += v + v/20
	}
	h.busy += min(capNS, vsum+uint64(h.rng.Int64N(d.Nanoseconds())))
}

func (h *fakeHost) Name() string { return "fake" }

func (h *fakeHost) Read() ([]meter.Reading, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var rs []meter.Reading
	for s := 0; s < h.sockets; s++ {
		for _, k := range []string{meter.KindPackage, meter.KindDRAM, meter.KindCore} {
			rs = append(rs, meter.Reading{Kind: k, Socket: s, EnergyUJ: h.energy[hostKey(k, s)], MaxRangeUJ: h.rangeUJ})
		}
	}
	return rs, nil
}

func (h *fakeHost) CPU() (procstat.CPU, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return procstat.CPU{BusyNS: h.busy, CPUs: h.cpus}, nil
}

func (h *fakeHost) Domains(ctx context.Context) ([]domain.Domain, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failDom {
		return nil, errors.New("libvirt: connection lost")
	}
	out := make([]domain.Domain, len(h.doms))
	copy(out, h.doms)
	return out, nil
}

func (h *fakeHost) Close() error { return nil }

func (h *fakeHost) Now() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.now
}

func (h *fakeHost) sources() Sources {
	return Sources{Meter: h, CPU: h.CPU, Domains: h, Now: h.Now}
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
