package hostagent

import (
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Version is the build's version, shown in virtwatt_host_info; the
// command sets it from prometheus/common/version.Version (the Makefile's
// -ldflags -X; the old -X main.version still works).
var Version = "dev"

// machineIDPaths are where systemd and D-Bus keep the machine id.
var machineIDPaths = []string{"/etc/machine-id", "/var/lib/dbus/machine-id"}

// hostInfo is virtwatt_host_info{host, machine_id, version} 1: a join
// metric that tells a fleet's hypervisors apart without relabeling
// (e.g. virtwatt_domain_power_watts * on(instance) group_left(host) virtwatt_host_info).
type hostInfo struct{ m prometheus.Metric }

// newHostInfo reads the machine id once; a host without one gets "".
func newHostInfo(host string) prometheus.Collector {
	return newHostInfoFrom(host, Version, machineIDPaths)
}

func newHostInfoFrom(host, version string, idPaths []string) *hostInfo {
	id := ""
	for _, p := range idPaths {
		if b, err := os.ReadFile(p); err == nil {
			if id = strings.TrimSpace(string(b)); id != "" {
				break
			}
		}
	}
	d := prometheus.NewDesc("virtwatt_host_info",
		"Identity of the hypervisor: its host name (host_name, default the system's), systemd machine id and virtwatt version. Always 1.",
		nil, prometheus.Labels{"host": host, "machine_id": id, "version": version})
	return &hostInfo{m: prometheus.MustNewConstMetric(d, prometheus.GaugeValue, 1)}
}

func (h *hostInfo) Describe(ch chan<- *prometheus.Desc) { ch <- h.m.Desc() }
func (h *hostInfo) Collect(ch chan<- prometheus.Metric) { ch <- h.m }
