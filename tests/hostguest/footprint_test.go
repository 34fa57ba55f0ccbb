package hostguest

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/tests/testbin"
)

// TestFootprintBreakdown runs the real binaries: virtwatt-host --demo
// charges each VM its embodied share and writes it in the record; the
// guest's virtwatt_vm_embodied_grams_total equals the host's counter for
// that VM exactly (after the host stops, against its state file), `track`
// ends with the BLOOM breakdown, and `report` gives embodied, dynamic and
// idle whose percents sum to 100.
func TestFootprintBreakdown(t *testing.T) {
	p := startPair(t, 200*time.Millisecond, 100*time.Millisecond)
	guestBin, share, guestAddr := p.guestBin, p.share, p.guestAddr

	// track: the end of its summary is the breakdown.
	cmd := exec.Command(guestBin, "track", "--share-dir", share, "--poll-interval", "100ms", "--",
		"sh", "-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("track: %v\n%s", err, stderr.String())
	}
	sum := stderr.String()
	if !strings.Contains(sum, "in the BLOOM paper's parts:") {
		t.Fatalf("track's summary has no breakdown:\n%s", sum)
	}
	row := regexp.MustCompile(`(?m)^\s+(embodied|dynamic|idle)\s+(\S+)\s+([0-9.]+) %`)
	rows := row.FindAllStringSubmatch(sum, -1)
	if len(rows) != 3 {
		t.Fatalf("track's breakdown: %d rows of embodied, dynamic, idle, want 3:\n%s", len(rows), sum)
	}
	var pct float64
	for _, r := range rows {
		g, _ := strconv.ParseFloat(r[2], 64)
		p, _ := strconv.ParseFloat(r[3], 64)
		if !(g > 0) {
			t.Errorf("track: %s %v g, want > 0 (the demo host charges every part):\n%s", r[1], g, sum)
		}
		pct += p
	}
	if pct < 99.8 || pct > 100.2 { // three percents rounded to 0.1
		t.Errorf("track's percents sum to %v:\n%s", pct, sum)
	}

	// report, from the share itself.
	out, err := exec.Command(guestBin, "report", "--share-dir", share, "--format", "json").Output()
	if err != nil {
		t.Fatalf("report: %v", err)
	}
	var rep struct {
		Parts []struct {
			Part    string
			Grams   float64
			Percent float64
		}
		Sources map[string]any
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("report JSON: %v\n%s", err, out)
	}
	pct = 0
	for _, p := range rep.Parts {
		pct += p.Percent
	}
	if len(rep.Parts) != 3 || pct < 100-1e-9 || pct > 100+1e-9 || rep.Sources["embodied_source"] == "" || rep.Sources["method"] != "estimated" {
		t.Errorf("report: %s", out)
	}

	// Stop the host: its last record stays; the guest's embodied counter
	// converges on the host's exactly.
	p.stopHost(t)
	var st struct {
		VMs map[string]struct {
			EmbodiedUG uint64 `json:"embodied_ug"`
			BaseUG     uint64 `json:"instance_base_embodied_ug"`
		} `json:"vms"`
	}
	p.readState(t, &st)
	vm := st.VMs[webUUID]
	if vm.EmbodiedUG == 0 || vm.BaseUG != 0 {
		t.Fatalf("host state: embodied %d µg, base %d µg: want a charge from a fresh state", vm.EmbodiedUG, vm.BaseUG)
	}
	want := float64(vm.EmbodiedUG) / 1e6 // the host's virtwatt_domain_embodied_grams_total
	testbin.WaitFor(t, "guest embodied equal to the host's", 5*time.Second, func() bool {
		return testbin.Scrape(t, guestAddr)["virtwatt_vm_embodied_grams_total"] == want
	})
}
