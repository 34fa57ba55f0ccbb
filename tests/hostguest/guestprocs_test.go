package hostguest

import (
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/tests/testbin"
)

// TestGuestRunsOnOneP: virtwatt-guest sets GOMAXPROCS to 1 when the
// environment does not (a second P only woke a spinning thread at every
// poll, measured in README "Performance"), as its Go metrics say.
func TestGuestRunsOnOneP(t *testing.T) {
	t.Setenv("GOMAXPROCS", "")
	p := startPair(t, 300*time.Millisecond, 200*time.Millisecond)
	if got := testbin.Scrape(t, p.guestAddr)["go_sched_gomaxprocs_threads"]; got != 1 {
		t.Errorf("virtwatt-guest runs with GOMAXPROCS %v, want 1", got)
	}
}
