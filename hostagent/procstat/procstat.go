// Package procstat reads the host's CPU time from <proc-root>/stat.
package procstat

// CPU is the aggregate "cpu" line of /proc/stat, converted to nanoseconds.
type CPU struct {
	BusyNS uint64 // user+nice+system+irq+softirq+steal (guest time is inside user)
	IdleNS uint64 // idle+iowait
	CPUs   int    // online CPUs (cpuN lines)
}
