package procsplit

import (
	"testing"
	"time"
)

// BenchmarkTick500 measures one tick over a fake tree of 500 processes.
func BenchmarkTick500(b *testing.B) {
	t := &testing.T{}
	f := &fakeProc{t: t, root: b.TempDir()}
	for pid := 1; pid <= 500; pid++ {
		f.setProc(pid, 1, "proc", uint64(pid), 0, uint64(pid))
	}
	f.setCPU(1000, 0, 1000, 0)
	s := New(Options{ProcRoot: f.root})
	s.Tick(t0, 0)
	now := t0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		now = now.Add(time.Second)
		if _, err := s.Tick(now, 1_000_000); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScanRealProc measures one scan of this machine's /proc (what a
// split tick costs on top of the arithmetic).
func BenchmarkScanRealProc(b *testing.B) {
	s := NewScanner("/proc")
	var procs []Proc
	b.ReportAllocs()
	for b.Loop() {
		var err error
		procs, _, err = s.Scan(procs[:0])
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(procs)), "procs")
}
