package meter

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/tests/fakerapl"
)

// The real-VM suite's meter (tests/e2e: two sockets at 40 W package, 4 W
// dram, every counter wrapping every 10 s, so small ranges: 400 J and
// 40 J) read by the real powercap meter into a Tracker: at every tick
// interval below the wrap period, however late the tick, the deltas add
// up exactly (µJ) to what the fake meter counted — no wrap is taken for a
// reset by the plausibility ceilings, and nothing is counted twice.
func TestTrackerOverFakeraplStandardTree(t *testing.T) {
	const wrapEvery = 10 * time.Second
	for _, tick := range []time.Duration{time.Second, 2500 * time.Millisecond, 6 * time.Second, 9 * time.Second} {
		t.Run(tick.String(), func(t *testing.T) {
			tree, err := fakerapl.New(t.TempDir(), fakerapl.Standard(2, 40, 4, wrapEvery), 0.05, 7)
			if err != nil {
				t.Fatal(err)
			}
			m, err := NewPowercap(tree.Root())
			if err != nil {
				t.Fatal(err)
			}
			tr := NewTracker()
			read := func() ([]Reading, []Delta) {
				rs, err := m.Read()
				if err != nil {
					t.Fatal(err)
				}
				return rs, tr.Update(rs, tick)
			}
			read() // baseline
			start, _ := tree.Totals()
			got := map[string]uint64{}
			const step = 250 * time.Millisecond
			for elapsed := time.Duration(0); elapsed < 12*wrapEvery; elapsed += tick {
				for d := time.Duration(0); d < tick; d += step {
					if err := tree.Step(step); err != nil {
						t.Fatal(err)
					}
				}
				rs, ds := read()
				for i, d := range ds {
					if d.Reset {
						t.Fatalf("after %v: %s %d read as a reset (discarded %d µJ)", elapsed+tick, d.Kind, d.Socket, d.DiscardedUJ)
					}
					got[filepath.Base(filepath.Dir(rs[i].Path))] += d.DeltaUJ
				}
			}
			end, wraps := tree.Totals()
			for dir, total := range end {
				if want := total - start[dir]; got[dir] != want {
					t.Errorf("%s: Σ deltas %d µJ, the fake meter counted %d µJ (off by %d µJ; %d wraps)",
						dir, got[dir], want, int64(got[dir])-int64(want), wraps[dir])
				}
				if wraps[dir] < 8 {
					t.Errorf("%s wrapped %d times; the test must cross wraps", dir, wraps[dir])
				}
			}
			if len(got) != len(end) {
				t.Errorf("deltas for %v, zones %v", keys(got), keys(end))
			}
		})
	}
}

func keys(m map[string]uint64) string {
	s := ""
	for k := range m {
		s += fmt.Sprint(k, " ")
	}
	return s
}
