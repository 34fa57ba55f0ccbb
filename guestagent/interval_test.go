package guestagent

import (
	"io"
	"testing"
	"time"
)

// TestPollIntervalBounds: --poll-interval takes the host's range (10ms to
// 1h, share.CheckInterval) and says so the same way: 1ns would burn a
// core, 100h would keep a dead share from ever going stale.
func TestPollIntervalBounds(t *testing.T) {
	for _, tc := range []struct {
		arg string
		ok  bool
	}{
		{"1ns", false}, {"9ms", false}, {"10ms", true}, {"1s", true}, {"1h", true}, {"1h0m0.001s", false}, {"100h", false},
	} {
		cfg, _, err := ParseArgs("virtwatt-guest", []string{"--poll-interval", tc.arg}, io.Discard, nil)
		if (err == nil) != tc.ok {
			t.Errorf("--poll-interval %s: err = %v, want ok %v", tc.arg, err, tc.ok)
			continue
		}
		if err != nil {
			d, _ := time.ParseDuration(tc.arg)
			want := "config key poll_interval (--poll-interval): " + d.String() + " is out of range (10ms to 1h)"
			if err.Error() != want {
				t.Errorf("--poll-interval %s: %q, want %q", tc.arg, err, want)
			}
		} else if d, _ := time.ParseDuration(tc.arg); cfg.PollInterval.Duration != d {
			t.Errorf("--poll-interval %s: got %v", tc.arg, cfg.PollInterval)
		}
	}
}
