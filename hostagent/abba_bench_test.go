package hostagent

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/hostagent/meter"
	"github.com/virtwatt/virtwatt/hostagent/state"
	"github.com/virtwatt/virtwatt/internal/benchfloor"
	"github.com/virtwatt/virtwatt/internal/procstat"
	"github.com/virtwatt/virtwatt/share"
	"github.com/virtwatt/virtwatt/tests/fakerapl"
)

// BenchmarkABBA compares the real tick with the syscall floor
// (internal/benchfloor) on the same tree, tick by tick in ABBA order
// (agent, floor, floor, agent, ...), so that both see the same page cache,
// journal and CPU frequency. Run it through `make bench`, or:
//
//	VIRTWATT_BENCH_VMS=1000 VIRTWATT_BENCH_DIR=/dev/shm \
//	  go test -run '^$' -bench '^BenchmarkABBA$' -benchtime 1x ./hostagent/
//
// The tree, built in a fresh directory under VIRTWATT_BENCH_DIR (default
// the test's temp dir) and removed afterwards: a fake powercap tree
// (tests/fakerapl, 2 sockets) read through the real powercap meter, a fake
// /proc/stat read through procstat, VIRTWATT_BENCH_VMS running domains
// (default 1000), the state file and the share root, written by the agent
// with as many writers as virtwatt-host runs. VIRTWATT_BENCH_TICKS (default
// 40) is the number of ticks of each.
//
// Descriptors: the agent's writers hold up to 3 directories per VM, and so
// does the floor. When both fit under RLIMIT_NOFILE (less 512 for the
// rest), both hold every directory; otherwise (10,000 VMs under this
// sandbox's 20,000) each gets half of it as its budget (share.DirBudget,
// benchfloor.Layout.MaxHeld): the same number of directories held, the
// rest opened for each write by both.
//
// It prints one line: medians of agent and floor, their ratio, the agent's
// heap allocations per tick and per VM (runtime.MemStats.Mallocs, read
// outside the timed part), and the directories each holds.
func BenchmarkABBA(b *testing.B) {
	vms := envInt(b, "VIRTWATT_BENCH_VMS", 1000)
	ticks := envInt(b, "VIRTWATT_BENCH_TICKS", 40)
	base := os.Getenv("VIRTWATT_BENCH_DIR")
	if base == "" {
		base = b.TempDir()
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		b.Fatal(err)
	}
	dir, err := os.MkdirTemp(base, "abba-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })

	budget, err := abbaBudget(vms)
	if err != nil {
		b.Fatal(err)
	}
	r, err := newABBARig(dir, vms, budget)
	if err != nil {
		b.Fatal(err)
	}
	defer r.close()

	ctx := context.Background()
	agentTick := func() (time.Duration, uint64) {
		if err := r.advance(); err != nil {
			b.Fatal(err)
		}
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		t0 := time.Now()
		ok := r.agent.Tick(ctx)
		d := time.Since(t0)
		runtime.ReadMemStats(&m1)
		if !ok {
			b.Fatal("agent tick failed")
		}
		return d, m1.Mallocs - m0.Mallocs
	}
	// Warm up: the first ticks create every share directory and static file.
	for range 3 {
		agentTick()
	}
	fds := openFiles()
	floor, err := r.openFloor(budget)
	if err != nil {
		b.Fatalf("%v (the agent holds %d open files at %d VMs)", err, fds, vms)
	}
	defer floor.Close()
	floorTick := func() time.Duration {
		t0 := time.Now()
		if err := floor.Tick(); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}
	floorTick()

	var agent, fl []time.Duration
	var allocs []uint64
	b.ResetTimer()
	for i := range ticks {
		if i%2 == 0 { // A B
			d, n := agentTick()
			agent, allocs = append(agent, d), append(allocs, n)
			fl = append(fl, floorTick())
		} else { // B A
			fl = append(fl, floorTick())
			d, n := agentTick()
			agent, allocs = append(agent, d), append(allocs, n)
		}
	}
	b.StopTimer()
	am, fm, al := median(agent), median(fl), median(allocs)
	ratio := float64(am) / float64(fm)
	b.ReportMetric(msOf(am), "agent-ms")
	b.ReportMetric(msOf(fm), "floor-ms")
	b.ReportMetric(ratio, "ratio")
	b.ReportMetric(float64(al)/float64(vms), "allocs/VM")
	fmt.Printf("ABBA vms=%d dir=%s ticks=%d writers=%d: agent %.2f ms, floor %.2f ms, ratio %.2f, allocs %d/tick = %.1f/VM, agent open files %d, directories held: agent %d, floor %d (budget %s)\n",
		vms, base, ticks, shareWriters, msOf(am), msOf(fm), ratio, al, float64(al)/float64(vms), fds,
		r.dirs.Held(), floor.Held(), budgetText(budget))
}

// abbaRig is the tree both sides work on and the agent on it.
type abbaRig struct {
	dir     string
	host    *fakeHost // domains and the clock
	rapl    *fakerapl.Tree
	meter   *meter.Powercap
	stat    string // fake /proc/stat
	cfg     Config
	agent   *Agent
	writers []*share.Writer
	dirs    *share.DirBudget // the writers'
}

// abbaBudget is the directories each side may hold (0: all it wants):
// see BenchmarkABBA.
func abbaBudget(vms int) (int, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, err
	}
	if l.Cur < l.Max { // Go raises it at start; in case it did not
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
		_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l)
	}
	room := int64(l.Cur) - 512
	if room >= int64(2*3*vms) {
		return 0, nil
	}
	if room < 2 {
		return 0, fmt.Errorf("RLIMIT_NOFILE is %d: raise ulimit -n", l.Cur)
	}
	return int(room / 2), nil
}

func budgetText(n int) string {
	if n == 0 {
		return "none needed"
	}
	return strconv.Itoa(n) + " each"
}

func newABBARig(dir string, vms, budget int) (*abbaRig, error) {
	r := &abbaRig{dir: dir, host: newFakeHost(1, vms), dirs: share.NewDirBudget(budget)}
	if budget == 0 {
		r.dirs = share.NewDirBudget(math.MaxInt32)
	}
	rapl := filepath.Join(dir, "sys")
	if err := os.Mkdir(rapl, 0o755); err != nil {
		return nil, err
	}
	var err error
	// 200 W package, 20 W dram per socket; counters wrap about every minute.
	if r.rapl, err = fakerapl.New(rapl, fakerapl.Standard(2, 200, 20, time.Minute), 0.05, 1); err != nil {
		return nil, err
	}
	if r.meter, err = meter.NewPowercap(r.rapl.Root()); err != nil {
		return nil, err
	}
	proc := filepath.Join(dir, "proc")
	if err := os.Mkdir(proc, 0o755); err != nil {
		return nil, err
	}
	r.stat = filepath.Join(proc, "stat")
	if err := r.writeStat(); err != nil {
		return nil, err
	}
	r.cfg = DefaultConfig()
	r.cfg.ShareRoot = filepath.Join(dir, "vms")
	r.cfg.StateFile = filepath.Join(dir, "state.json")
	for range shareWriters {
		w, err := share.NewWriter(r.cfg.ShareRoot)
		if err != nil {
			r.close()
			return nil, err
		}
		w.SetDirBudget(r.dirs)
		r.writers = append(r.writers, w)
	}
	src := Sources{
		Meter:   r.meter,
		CPU:     func() (procstat.CPU, error) { return procstat.Read(proc) },
		Domains: r.host,
		Now:     r.host.Now,
	}
	if r.agent, err = New(r.cfg, src, r.writers[0], state.New(), nil, quietLog()); err != nil {
		r.close()
		return nil, err
	}
	r.agent.AddWriters(r.writers[1:]...)
	return r, nil
}

// advance moves the sources one second on (outside the timed part).
func (r *abbaRig) advance() error {
	r.host.advance(time.Second)
	if err := r.rapl.Step(time.Second); err != nil {
		return err
	}
	return r.writeStat()
}

// writeStat writes the fake /proc/stat from the fake host's busy time.
func (r *abbaRig) writeStat() error {
	h := r.host
	h.mu.Lock()
	busy := h.busy / 10_000_000 // USER_HZ ticks
	cpus := h.cpus
	elapsed := uint64(h.now.Sub(time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)).Seconds()*100) + 1
	h.mu.Unlock()
	idle := elapsed*uint64(cpus) - min(busy, elapsed*uint64(cpus))
	var sb strings.Builder
	fmt.Fprintf(&sb, "cpu  %d 0 0 %d 0 0 0 0 0 0\n", busy, idle)
	for i := range cpus {
		fmt.Fprintf(&sb, "cpu%d %d 0 0 %d 0 0 0 0 0 0\n", i, busy/uint64(cpus), idle/uint64(cpus))
	}
	sb.WriteString("intr 0\nctxt 0\nbtime 0\n")
	tmp := r.stat + ".tmp"
	if err := os.WriteFile(tmp, []byte(sb.String()), 0o444); err != nil {
		return err
	}
	return os.Rename(tmp, r.stat)
}

// openFloor opens the floor on the tree as the agent left it: the same
// energy files, /proc/stat, state file and, per VM, the files the agent
// rewrites every tick.
func (r *abbaRig) openFloor(budget int) (*benchfloor.Floor, error) {
	rs, err := r.meter.Read()
	if err != nil {
		return nil, err
	}
	l := benchfloor.Layout{
		ProcStat:  r.stat,
		StateFile: r.cfg.StateFile,
		ShareRoot: r.cfg.ShareRoot,
		Writers:   shareWriters,
		MaxHeld:   budget,
		Files:     []string{filepath.Join(share.PackageZoneDir, share.EnergyFile)},
	}
	for _, rd := range rs {
		l.EnergyFiles = append(l.EnergyFiles, rd.Path)
	}
	if slices.Contains(r.cfg.Zones, share.ZoneDRAM) {
		l.Files = append(l.Files, filepath.Join(share.DRAMZoneDir, share.EnergyFile))
	}
	l.Files = append(l.Files, share.RecordFile)
	for _, d := range r.host.doms {
		l.VMs = append(l.VMs, d.Name)
	}
	if len(l.VMs) < parallelWritesFrom { // as the agent does
		l.Writers = 1
	}
	return benchfloor.Open(l)
}

func (r *abbaRig) close() {
	for _, w := range r.writers {
		w.Close()
	}
}

// openFiles is the number of files the process has open.
func openFiles() int {
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(es)
}

func envInt(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}

func median[T int64 | uint64 | time.Duration](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
