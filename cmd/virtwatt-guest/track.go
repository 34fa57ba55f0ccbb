package main

import (
	"fmt"
	"io"
)

// runTrack is the hook for `virtwatt-guest track [flags] -- CMD ARGS`:
// guestagent/track measures one command. Until that package is wired in,
// it says so.
func runTrack(args []string, stdout, stderr io.Writer) int {
	_ = args
	_ = stdout
	fmt.Fprintln(stderr, "virtwatt-guest track: not available in this build yet")
	return 2
}
