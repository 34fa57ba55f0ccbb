package hostagent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/virtwatt/virtwatt/hostagent/state"
)

func TestHostInfo(t *testing.T) {
	dir := t.TempDir()
	id := filepath.Join(dir, "machine-id")
	if err := os.WriteFile(id, []byte("0123456789abcdef0123456789abcdef\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		paths []string
		want  string
	}{
		{[]string{filepath.Join(dir, "missing"), id}, `machine_id="0123456789abcdef0123456789abcdef"`},
		{[]string{filepath.Join(dir, "missing")}, `machine_id=""`},
	} {
		reg := prometheus.NewRegistry()
		reg.MustRegister(newHostInfoFrom("hv-07", "1.2.3", tc.paths))
		want := "# HELP virtwatt_host_info Identity of the hypervisor: its host name (host_name, default the system's), systemd machine id and virtwatt version. Always 1.\n" +
			"# TYPE virtwatt_host_info gauge\nvirtwatt_host_info{host=\"hv-07\"," + tc.want + ",version=\"1.2.3\"} 1\n"
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "virtwatt_host_info"); err != nil {
			t.Error(err)
		}
	}
}

// The agent's registry serves it.
func TestRegistryHasHostInfo(t *testing.T) {
	a := newTestAgent(t, testConfig(t), newFakeHost(1, 1), state.New())
	reg, err := newRegistry(a, NewObserver())
	if err != nil {
		t.Fatal(err)
	}
	n, err := testutil.GatherAndCount(reg, "virtwatt_host_info")
	if err != nil || n != 1 {
		t.Errorf("virtwatt_host_info series: %d %v", n, err)
	}
}
