// Package demo simulates a small hypervisor — an energy meter, the host's
// CPU time and three VMs of different loads (or, with NewWorldSize, as
// many as asked) — so that virtwatt-host --demo runs its real pipeline
// (split, shares, state, metrics) on any machine.
package demo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/virtwatt/virtwatt/hostagent/domain"
	"github.com/virtwatt/virtwatt/hostagent/meter"
	"github.com/virtwatt/virtwatt/internal/procstat"
	"github.com/virtwatt/virtwatt/share"
)

// Host CPUs and power model of the simulated machine: an idle floor plus a
// slope per busy CPU, for the package; DRAM a tenth of it. A world of more
// than DemoVMs VMs has a CPU per vmsPerCPU VMs (at least hostCPUs), and
// the slope shrinks by as much, so that its package stays within one
// socket's power.
const (
	hostCPUs       = 8
	vmsPerCPU      = 4
	pkgIdleW       = 35.0
	pkgPerBusyCPUW = 12.0
	dramIdleW      = 4.0
	dramPerBusyW   = 1.0
	hostProcLoad   = 0.3 // CPUs busy with the host's own processes
	// A small counter range, so that the demo shows wrap correction at work
	// (the package counter wraps about every 2 minutes).
	maxRangeUJ = 10_000_000_000
)

type vm struct {
	d    domain.Domain
	load float64 // average busy vCPUs
}

// World is the simulated machine. Every source reads it; it advances to the
// current time on each read, so all sources agree.
type World struct {
	mu       sync.Mutex
	now      func() time.Time
	rng      *rand.Rand
	last     time.Time
	busy     float64 // ns
	idle     float64 // ns
	cpus     float64 // host CPUs
	perBusyW float64 // package W per busy CPU
	pkg      float64 // µJ, unwrapped
	dram     float64 // µJ, unwrapped
	vms      []vm
}

// DemoVMs is the default number of VMs: demo-web, demo-db, demo-idle.
const DemoVMs = 3

// NewWorldSize returns the simulated machine at now() with n VMs (at least
// 1): the first DemoVMs are demo-web, demo-db and demo-idle, the others
// demo-vm-0004 and on, each with 1 to 4 vCPUs and an average load of 0.02
// to 0.32 busy vCPUs.
func NewWorldSize(now func() time.Time, seed uint64, n int) *World {
	if now == nil {
		now = time.Now
	}
	n = max(n, 1)
	w := &World{now: now, rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), last: now(),
		cpus: float64(max(hostCPUs, n/vmsPerCPU))}
	w.perBusyW = pkgPerBusyCPUW * hostCPUs / w.cpus
	w.vms = []vm{
		{d: domain.Domain{UUID: "0d3c0a52-6a4e-4c1e-9a31-000000000001", Name: "demo-web", State: domain.StateRunning, VCPUs: 4,
			Labels: map[string]string{"team": "web", "project": "shop"}}, load: 2.5},
		{d: domain.Domain{UUID: "0d3c0a52-6a4e-4c1e-9a31-000000000002", Name: "demo-db", State: domain.StateRunning, VCPUs: 2,
			Labels: map[string]string{"team": "data", "project": "shop"}}, load: 0.8},
		{d: domain.Domain{UUID: "0d3c0a52-6a4e-4c1e-9a31-000000000003", Name: "demo-idle", State: domain.StateRunning, VCPUs: 1,
			Labels: map[string]string{"team": "ops"}}, load: 0.05},
	}
	if n <= len(w.vms) {
		w.vms = w.vms[:n]
		return w
	}
	for i := len(w.vms) + 1; i <= n; i++ {
		w.vms = append(w.vms, vm{d: domain.Domain{
			UUID:  fmt.Sprintf("0d3c0a52-6a4e-4c1e-9a31-%012d", i),
			Name:  fmt.Sprintf("demo-vm-%04d", i),
			State: domain.StateRunning, VCPUs: 1 + i%4,
		}, load: 0.02 + 0.3*w.rng.Float64()})
	}
	return w
}

// advance integrates loads and power from the last call to now, with
// ±10 % noise per VM.
func (w *World) advance() {
	now := w.now()
	dt := now.Sub(w.last).Seconds()
	if dt <= 0 {
		return
	}
	w.last = now
	busyCPUs := hostProcLoad
	for i := range w.vms {
		v := &w.vms[i]
		load := v.load * (0.9 + 0.2*w.rng.Float64())
		load = min(load, float64(v.d.VCPUs))
		vcpu := load * dt * 1e9
		v.d.VCPUTimeNS += uint64(vcpu)
		v.d.CPUTimeNS += uint64(vcpu * 1.03) // 3 % emulator overhead
		busyCPUs += load * 1.03
	}
	busyCPUs = min(busyCPUs, w.cpus)
	w.busy += busyCPUs * dt * 1e9
	w.idle += (w.cpus - busyCPUs) * dt * 1e9
	w.pkg += (pkgIdleW + w.perBusyW*busyCPUs) * dt * 1e6
	w.dram += (dramIdleW + dramPerBusyW*busyCPUs*hostCPUs/w.cpus) * dt * 1e6
}

// Meter is the simulated RAPL meter of the world (one socket).
func (w *World) Meter() meter.Meter { return (*demoMeter)(w) }

type demoMeter World

func (m *demoMeter) Name() string { return "demo" }

// Provenance: simulated, so never "measured" — records and metrics say
// estimated by model demo, and no power curve is learned from it.
func (m *demoMeter) Provenance() meter.Provenance {
	return meter.Provenance{Method: share.MethodEstimated, Model: share.ModelDemo}
}

func (m *demoMeter) Read() ([]meter.Reading, error) {
	w := (*World)(m)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.advance()
	return []meter.Reading{
		{Kind: meter.KindPackage, Socket: 0, Path: "demo:package-0", EnergyUJ: uint64(w.pkg) % maxRangeUJ, MaxRangeUJ: maxRangeUJ},
		{Kind: meter.KindDRAM, Socket: 0, Path: "demo:dram", EnergyUJ: uint64(w.dram) % maxRangeUJ, MaxRangeUJ: maxRangeUJ},
	}, nil
}

// CPU returns the world's host CPU time, as /proc/stat would.
func (w *World) CPU() (procstat.CPU, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.advance()
	return procstat.CPU{BusyNS: uint64(w.busy), IdleNS: uint64(w.idle), CPUs: int(w.cpus)}, nil
}

// Domains is the world's domain source.
func (w *World) Domains() domain.Source { return (*demoDomains)(w) }

type demoDomains World

func (s *demoDomains) Domains(ctx context.Context) ([]domain.Domain, error) {
	w := (*World)(s)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.advance()
	out := make([]domain.Domain, len(w.vms))
	for i, v := range w.vms {
		out[i] = v.d
	}
	return out, nil
}

func (s *demoDomains) Close() error { return nil }
