package estimate

import (
	"runtime"
	"testing"
)

// Resolving a carbon intensity (what the guest does) keeps the intensity
// tables only: the CPU TDP table, parsed apart, stays unparsed. The whole
// set once kept about 2.2 MB of heap, the CPU table most of it.
func TestIntensityTablesStayLean(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if _, err := Resolve(Lookup{Country: "FR"}); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	kept := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	if kept > 1<<20 {
		t.Fatalf("resolving an intensity keeps %d kB of heap, want under 1 MB", kept/1024)
	}
	t.Logf("resolving an intensity keeps %d kB of heap", kept/1024)
}
