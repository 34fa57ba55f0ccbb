//go:build e2e

package e2e

import (
	"context"
	"sync"
	"time"

	"github.com/virtwatt/virtwatt/tests/fakerapl"
)

// meterStep is how often the fake powercap tree advances.
const meterStep = 50 * time.Millisecond

// fakeMeter drives the fake powercap tree as fakerapl's Run does (each
// step adds the power times the real time since the last one, so the
// energy is right however late a step is), and remembers when steps came
// late: on a loaded machine the suite's own process may not run for
// hundreds of ms, and a host tick that reads the tree just before a late
// step sees less energy than the meter's power says, the next one more.
type fakeMeter struct {
	tree    *fakerapl.Tree
	started time.Time // set before run starts

	mu   sync.Mutex
	late []lateStep // steps more than one period late, oldest first
}

type lateStep struct {
	at  time.Time     // when the late step ran
	gap time.Duration // time since the step before
}

func (m *fakeMeter) run(ctx context.Context) error {
	tick := time.NewTicker(meterStep)
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			now := time.Now()
			if err := m.tree.Step(now.Sub(last)); err != nil {
				return err
			}
			if gap := now.Sub(last); gap > 2*meterStep {
				m.mu.Lock()
				m.late = append(m.late, lateStep{now, gap})
				m.mu.Unlock()
			}
			last = now
		}
	}
}

// maxGap is the longest time between two steps that ended after since
// (meterStep when none was late).
func (m *fakeMeter) maxGap(since time.Time) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	g := meterStep
	for i := len(m.late) - 1; i >= 0 && m.late[i].at.After(since); i-- {
		g = max(g, m.late[i].gap)
	}
	return g
}
