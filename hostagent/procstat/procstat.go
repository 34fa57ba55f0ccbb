// Package procstat is a forwarder to internal/procstat, the one parser of
// /proc/stat, kept while callers move over.
//
// Deprecated: import github.com/virtwatt/virtwatt/internal/procstat.
package procstat

import "github.com/virtwatt/virtwatt/internal/procstat"

// CPU is procstat.CPU.
type CPU = procstat.CPU

// Read is procstat.Read.
func Read(procRoot string) (CPU, error) { return procstat.Read(procRoot) }
