// Command floor runs the syscall floor of a host tick (internal/benchfloor)
// on a tree virtwatt-host has written, and prints the median tick. The
// ABBA benchmark (`make bench`) runs the same floor in process, interleaved
// with the real tick; this command is for running it alone, under strace
// or perf, say:
//
//	go run ./tests/bench/floor --share-root /run/virtwatt/vms \
//	  --state-file /var/lib/virtwatt/state.json --ticks 20
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/virtwatt/virtwatt/internal/benchfloor"
)

func main() {
	var (
		shareRoot = flag.String("share-root", "/run/virtwatt/vms", "share root the agent writes (one directory per VM)")
		stateFile = flag.String("state-file", "/var/lib/virtwatt/state.json", "the agent's state file (rewritten with fsync + rename)")
		procStat  = flag.String("proc-stat", "/proc/stat", "the host's /proc/stat")
		energy    = flag.String("energy-glob", "/sys/class/powercap/intel-rapl:*/energy_uj", "glob of the energy_uj files read each tick (zones nested one level are added)")
		files     = flag.String("files", "intel-rapl:0/energy_uj,intel-rapl:0:1/energy_uj,virtwatt.json", "comma-separated files rewritten per VM each tick, relative to its directory")
		writers   = flag.Int("writers", 4, "goroutines the VMs' writes are spread over")
		ticks     = flag.Int("ticks", 20, "ticks to run")
	)
	flag.Parse()
	if err := run(*shareRoot, *stateFile, *procStat, *energy, *files, *writers, *ticks); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

func run(shareRoot, stateFile, procStat, energyGlob, files string, writers, ticks int) error {
	energy, err := filepath.Glob(energyGlob)
	if err != nil {
		return fmt.Errorf("--energy-glob %q: %w", energyGlob, err)
	}
	nested, _ := filepath.Glob(filepath.Join(filepath.Dir(filepath.Dir(energyGlob)), "intel-rapl:*:*", "energy_uj"))
	energy = append(energy, nested...)
	entries, err := os.ReadDir(shareRoot)
	if err != nil {
		return fmt.Errorf("--share-root: %w", err)
	}
	var vms []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			vms = append(vms, e.Name())
		}
	}
	f, err := benchfloor.Open(benchfloor.Layout{
		EnergyFiles: energy, ProcStat: procStat, StateFile: stateFile, ShareRoot: shareRoot,
		VMs: vms, Files: strings.Split(files, ","), Writers: writers,
	})
	if err != nil {
		return err
	}
	defer f.Close()
	ds := make([]time.Duration, 0, ticks)
	for range ticks {
		t0 := time.Now()
		if err := f.Tick(); err != nil {
			return err
		}
		ds = append(ds, time.Since(t0))
	}
	slices.Sort(ds)
	fmt.Printf("floor: %d VMs, %d energy files, %d writers, %d ticks: median %.2f ms\n",
		len(vms), len(energy), writers, ticks, float64(ds[len(ds)/2])/float64(time.Millisecond))
	return nil
}
