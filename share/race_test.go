package share

import (
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

// TestReaderRacesWriter reads a VM's record and tree 100,000 times while
// another goroutine rewrites them continuously. Every read must succeed
// and give a consistent value: the writer publishes sequence n with
// package = n*1000 µJ and dram = n*7 µJ, so a torn or partial value would
// not divide evenly, or would go backwards. The numbers grow through
// several digit counts, so file lengths change under the reader.
func TestReaderRacesWriter(t *testing.T) {
	const wantReads = 100_000
	w, root := newTestWriter(t)
	dir := filepath.Join(root, "vm")
	if err := w.Write("vm", raceRecord(1), true); err != nil {
		t.Fatal(err)
	}

	var stop atomic.Bool
	var writes uint64
	var writeErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		for n := uint64(2); !stop.Load(); n++ {
			if err := w.Write("vm", raceRecord(n), true); err != nil {
				writeErr = err
				return
			}
			writes = n
		}
	})

	reads := 0
	var lastSeq, lastPkg, lastDRAM uint64
	for reads < wantReads {
		rec, err := ReadRecord(dir)
		if err != nil {
			stop.Store(true)
			t.Fatalf("read %d: ReadRecord: %v", reads, err)
		}
		reads++
		seq := rec.Sequence
		if seq < lastSeq || rec.Zones[ZonePackage].TotalUJ() != seq*1000 || rec.Zones[ZoneDRAM].TotalUJ() != seq*7 {
			stop.Store(true)
			t.Fatalf("read %d: inconsistent record after sequence %d: %+v", reads, lastSeq, rec)
		}
		lastSeq = seq

		tree, err := ReadTree(dir)
		if err != nil {
			stop.Store(true)
			t.Fatalf("read %d: ReadTree: %v", reads, err)
		}
		reads++
		// The writer writes package n before dram n, and the reader reads
		// package before dram: dram is at most one sequence behind.
		pkgSeq, dramSeq := tree.PackageUJ/1000, tree.DRAMUJ/7
		if !tree.HasDRAM || tree.PackageUJ%1000 != 0 || tree.DRAMUJ%7 != 0 ||
			dramSeq+1 < pkgSeq || pkgSeq < lastPkg || dramSeq < lastDRAM ||
			tree.PackageMaxUJ != TreeMaxRangeUJ || tree.DRAMMaxUJ != TreeMaxRangeUJ {
			stop.Store(true)
			t.Fatalf("read %d: torn or inconsistent tree after package %d, dram %d: %+v", reads, lastPkg, lastDRAM, tree)
		}
		lastPkg, lastDRAM = pkgSeq, dramSeq
	}
	stop.Store(true)
	wg.Wait()
	if writeErr != nil {
		t.Fatalf("writer: %v", writeErr)
	}
	if reads < wantReads {
		t.Fatalf("only %d reads", reads)
	}
	if writes < 2 {
		t.Fatalf("the writer made only %d writes during %d reads: no race was exercised", writes, reads)
	}
	t.Logf("%d reads against %d writes", reads, writes)
}

// raceRecord is record n of the race test: the energies start at small
// values so that their digit counts change as n grows.
func raceRecord(n uint64) *Record {
	r := testRecord(n, 0, 0)
	r.Zones[ZonePackage] = ZoneEnergy{UsageUJ: n * 600, IdleUJ: n * 400}
	r.Zones[ZoneDRAM] = ZoneEnergy{UsageUJ: n * 7}
	return r
}
