// Package hostguest runs the two real binaries against each other on one
// machine: virtwatt-host --demo writes real share directories, and
// virtwatt-guest follows one of them as it would inside that VM.
package hostguest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// build compiles both agents once per test binary.
func build(t *testing.T) (host, guest string) {
	t.Helper()
	dir := t.TempDir()
	host, guest = filepath.Join(dir, "virtwatt-host"), filepath.Join(dir, "virtwatt-guest")
	for _, b := range []struct{ out, pkg, cgo string }{
		{host, "../../cmd/virtwatt-host", "1"},
		{guest, "../../cmd/virtwatt-guest", "0"},
	} {
		cmd := exec.Command("go", "build", "-o", b.out, b.pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED="+b.cgo)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", b.pkg, err, out)
		}
	}
	return host, guest
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func start(t *testing.T, bin string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, args...)
	log, err := os.Create(filepath.Join(t.TempDir(), filepath.Base(bin)+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("%s log:\n%s", filepath.Base(bin), b)
		}
	})
	return cmd
}

// scrape returns the samples of a text exposition whose name and labels
// match: "name{k=\"v\",...}" prefixes.
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

// sum adds the samples whose key starts with name and contains every part.
func sum(m map[string]float64, name string, parts ...string) (float64, int) {
	var s float64
	n := 0
	for k, v := range m {
		if !strings.HasPrefix(k, name+"{") {
			continue
		}
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(k, p)
		}
		if ok {
			s += v
			n++
		}
	}
	return s, n
}

func waitFor(t *testing.T, what string, d time.Duration, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if f() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s", d, what)
}

func up(addr string) bool {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == 200
}

// TestGuestEnergyMatchesHostAttribution: while both run, the guest's energy
// is the host's attribution for that VM within one tick; after the host
// stops, the guest's counter equals the host's final figure exactly.
func TestGuestEnergyMatchesHostAttribution(t *testing.T) {
	hostBin, guestBin := build(t)
	dir := t.TempDir()
	hostAddr, guestAddr := freePort(t), freePort(t)
	const interval = 500 * time.Millisecond
	host := start(t, hostBin, "--demo", "--share-root", filepath.Join(dir, "vms"), "--state-file", filepath.Join(dir, "state.json"),
		"--listen", hostAddr, "--interval", interval.String(), "--pue", "1.5", "--carbon-intensity", "100")
	waitFor(t, "host endpoint", 10*time.Second, func() bool { return up(hostAddr) })
	share := filepath.Join(dir, "vms", "demo-web")
	start(t, guestBin, "--share-dir", share, "--listen", guestAddr, "--poll-interval", "200ms", "--top-processes", "0")
	waitFor(t, "guest endpoint", 10*time.Second, func() bool { return up(guestAddr) })
	waitFor(t, "guest share_up", 10*time.Second, func() bool { return scrape(t, guestAddr)["virtwatt_share_up"] == 1 })

	time.Sleep(3 * interval)
	for i := 0; i < 5; i++ {
		h := scrape(t, hostAddr)
		g := scrape(t, guestAddr)
		for _, zone := range []string{"package", "dram"} {
			hv, n := sum(h, "virtwatt_domain_energy_joules_total", `domain="demo-web"`, `zone="`+zone+`"`)
			if n != 2 {
				t.Fatalf("host exports %d parts for demo-web/%s, want usage and idle", n, zone)
			}
			gv := g[`virtwatt_vm_energy_joules_total{zone="`+zone+`"}`]
			power := h[`virtwatt_domain_power_watts{domain="demo-web",uuid="0d3c0a52-6a4e-4c1e-9a31-000000000001",zone="`+zone+`"}`]
			oneTick := power * interval.Seconds() * 1.5 // one tick, with noise and scheduling slack
			if gv <= 0 || gv > hv+1e-6 || hv-gv > oneTick+1e-6 {
				t.Fatalf("%s: guest %.6f J, host %.6f J: more than one tick (%.3f J) apart", zone, gv, hv, oneTick)
			}
		}
		time.Sleep(interval)
	}

	// Stop the host: its last record stays; the guest converges on it exactly.
	if err := host.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_, _ = host.Process.Wait()
	var st struct {
		VMs map[string]struct {
			Name  string `json:"name"`
			Zones map[string]struct {
				UsageUJ uint64 `json:"usage_uj"`
				IdleUJ  uint64 `json:"idle_uj"`
			} `json:"zones"`
		} `json:"vms"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	vm := st.VMs["0d3c0a52-6a4e-4c1e-9a31-000000000001"]
	time.Sleep(time.Second) // > 2 guest polls
	g := scrape(t, guestAddr)
	var total float64
	for _, zone := range []string{"package", "dram"} {
		want := float64(vm.Zones[zone].UsageUJ+vm.Zones[zone].IdleUJ) / 1e6
		got := g[`virtwatt_vm_energy_joules_total{zone="`+zone+`"}`]
		if fmt.Sprintf("%.6f", got) != fmt.Sprintf("%.6f", want) {
			t.Fatalf("%s after host stop: guest %.6f J, host state %.6f J", zone, got, want)
		}
		total += want
	}
	// Emissions follow the host's intensity and PUE: J → kWh × 1.5 × 100 g/kWh.
	wantG := total / 3.6e6 * 1.5 * 100
	if got := g["virtwatt_vm_emissions_grams_total"]; got < wantG*0.999999 || got > wantG*1.000001 {
		t.Fatalf("emissions %.9f g, want %.9f g", got, wantG)
	}
}
