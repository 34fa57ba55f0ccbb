package lifecycle

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/share"
	"github.com/virtwatt/virtwatt/tests/testbin"
)

// estimatingProc is a fake /proc for a host without RAPL: the estimating
// meter's testdata cpuinfo and meminfo (Xeon Gold 6248, TDP 150 W, two
// sockets; 16e9 bytes), and a stat file whose CPU times advance at
// utilization 1/4 on two CPUs (one busy tick for three idle ones, 40 ms of
// CPU time every 20 ms), replaced atomically until the test ends.
func estimatingProc(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(file), "..", "..", "hostagent", "meter", "testdata", "proc", "xeon-2s")
	proc := filepath.Join(t.TempDir(), "proc")
	if err := os.MkdirAll(proc, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"cpuinfo", "meminfo"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(proc, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write := func(busy, idle uint64) error {
		tmp := filepath.Join(proc, ".stat")
		line := fmt.Sprintf(" %d 0 0 %d 0 0 0 0 0 0\n", busy, idle)
		half := fmt.Sprintf(" %d 0 0 %d 0 0 0 0 0 0\n", busy/2, idle/2)
		if err := os.WriteFile(tmp, []byte("cpu "+line+"cpu0"+half+"cpu1"+half), 0o644); err != nil {
			return err
		}
		return os.Rename(tmp, filepath.Join(proc, "stat"))
	}
	if err := write(1000, 3000); err != nil {
		t.Fatal(err)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for busy := uint64(1001); ; busy++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if err := write(busy, 3*busy); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	return proc
}

// TestHostEstimatesWithoutRAPL: the real binary with meter = auto on a
// host with no powercap tree and no msr files starts, warns once naming
// what it tried, and splits the estimated energy with conservation;
// records and metrics say estimated/tdp; with record_schema 1 it refuses
// to start and says why.
func TestHostEstimatesWithoutRAPL(t *testing.T) {
	dir := t.TempDir()
	proc := estimatingProc(t)
	noRAPL := filepath.Join(dir, "sys", "class", "powercap")
	p := paths{state: filepath.Join(dir, "state.json"), shares: filepath.Join(dir, "vms")}
	addr := testbin.FreePort(t)
	args := []string{hostBin, "--libvirt-uri", "test:///default", "--meter", "auto",
		"--powercap-root", noRAPL, "--msr-root", filepath.Join(dir, "dev", "cpu"), "--proc-root", proc,
		"--share-root", p.shares, "--state-file", p.state, "--web.listen-address", addr, "--interval", interval.String()}

	refused := testbin.Start(t, append(args, "--record-schema", "1")...)
	if code, exited := refused.Wait(10 * time.Second); !exited || code == 0 {
		t.Fatalf("record_schema 1 with an estimating meter: exited %v, code %d\n%s", exited, code, refused.Log())
	}
	if log := refused.Log(); !strings.Contains(log, "record_schema") || !strings.Contains(log, "estimated") {
		t.Fatalf("the refusal does not say why:\n%s", log)
	}
	if _, err := os.Stat(filepath.Join(p.shares, "test", share.RecordFile)); err == nil {
		t.Fatal("the refused start wrote a record")
	}

	h := testbin.Start(t, args...)
	var rec *share.Record
	testbin.WaitFor(t, "a record past the third tick", 15*time.Second, func() bool {
		r, err := share.ReadRecord(filepath.Join(p.shares, "test"))
		if err == nil && r.Sequence >= 4 {
			rec = r
			return true
		}
		return false
	})
	method, model, _ := rec.Provenance()
	if rec.Schema != share.SchemaVersion || method != share.MethodEstimated || model != share.ModelTDP ||
		!strings.Contains(rec.CPUModel, "Gold 6248") {
		t.Fatalf("record schema %d says %s/%s, cpu %q", rec.Schema, method, model, rec.CPUModel)
	}
	m := testbin.Scrape(t, addr)
	for _, z := range []string{"package", "dram"} {
		host, n := testbin.Sum(m, "virtwatt_host_energy_joules_total", `method="estimated"`, `model="tdp"`, `zone="`+z+`"`)
		if n != 1 || host <= 0 {
			t.Fatalf("%s: %d estimated host series, %.6f J", z, n, host)
		}
		// test:///default's domain reports no vCPUs: it may get nothing,
		// but every µJ estimated is somewhere.
		vms, _ := testbin.Sum(m, "virtwatt_domain_energy_joules_total", `method="estimated"`, `zone="`+z+`"`)
		un, _ := testbin.Sum(m, "virtwatt_host_unattributed_energy_joules_total", `zone="`+z+`"`)
		fo, _ := testbin.Sum(m, "virtwatt_host_forgotten_energy_joules_total", `zone="`+z+`"`)
		pe, _ := testbin.Sum(m, "virtwatt_host_pending_energy_joules", `zone="`+z+`"`)
		if d := math.Abs(vms + un + fo + pe - host); d > 1e-5 {
			t.Fatalf("%s: VMs %.6f + host %.6f + forgotten %.6f + pending %.6f ≠ estimated %.6f J", z, vms, un, fo, pe, host)
		}
	}
	// u = 1/4: P = P_idle + (P_max − P_idle) / 4 with P_max = 150 W × 2
	// sockets, P_idle = 0.74/3.5 × P_max; DRAM = 16 GB × 0.392 W/GB.
	pMax := 150.0 * 2
	pIdle := pMax * 0.74 / 3.5
	for _, w := range []struct {
		zone string
		want float64
	}{{"package", pIdle + (pMax-pIdle)/4}, {"dram", 16 * 0.392}} {
		got, _ := testbin.Sum(m, "virtwatt_host_power_watts", `method="estimated"`, `zone="`+w.zone+`"`)
		if math.Abs(got-w.want) > 0.1*w.want {
			t.Errorf("%s power %.3f W, the model gives %.3f W", w.zone, got, w.want)
		}
	}
	if err := h.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code, exited := h.Wait(8 * time.Second); !exited || code != 0 {
		t.Fatalf("SIGTERM: exited %v, code %d", exited, code)
	}
	log := h.Log()
	if n := strings.Count(log, "no readable RAPL energy counters"); n != 1 {
		t.Fatalf("the fallback was said %d times, want once:\n%s", n, log)
	}
	for _, w := range []string{noRAPL, filepath.Join(dir, "dev", "cpu"), "Gold 6248"} {
		if !strings.Contains(log, w) {
			t.Errorf("the log does not name %s:\n%s", w, log)
		}
	}
}
