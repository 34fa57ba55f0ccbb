package hostagent

import (
	"bytes"
	"path/filepath"
	"time"

	"github.com/virtwatt/virtwatt/hostagent/meter"
	"github.com/virtwatt/virtwatt/hostagent/state"
	"github.com/virtwatt/virtwatt/internal/procstat"
	"github.com/virtwatt/virtwatt/internal/regfile"
)

// maxRestoreGap is the longest downtime over which a restarted agent trusts
// the raw counters saved by its predecessor. Within it, the energy used
// while the agent was down is measured and split like one long tick, so a
// restart loses nothing; beyond it a RAPL counter may have wrapped more than
// once (32-bit MSR counters wrap in minutes at high power), so the agent
// takes fresh baselines and the downtime's energy is not counted.
const maxRestoreGap = time.Minute

// machineIDFile is the host's identity (systemd's machine-id); a variable
// so that tests can point it elsewhere.
var machineIDFile = "/etc/machine-id"

// bootIDFile is where, under --proc-root, the kernel tells its boot id: a
// random UUID drawn at each boot.
const bootIDFile = "sys/kernel/random/boot_id"

// identity is the machine and boot the meter's counters belong to: RAPL
// counters restart at boot, and another host's are unrelated. A field is
// empty when it cannot be read.
type identity struct {
	bootID, hostName, machineID string
}

// readIdentity reads the boot id under procRoot and the machine id; it
// never blocks (regfile) and a missing file leaves its field empty.
func readIdentity(procRoot, hostName string) identity {
	return identity{
		bootID:    readID(filepath.Join(procRoot, bootIDFile)),
		hostName:  hostName,
		machineID: readID(machineIDFile),
	}
}

func readID(path string) string {
	b, err := regfile.ReadFile(path, 128, 0)
	if err != nil {
		return ""
	}
	return string(bytes.TrimSpace(b))
}

// sameHost compares saved and current identities: by machine id when both
// are known, else by host name when both are known; unknown is the same.
func sameHost(saved *state.Baseline, cur identity) bool {
	if saved.MachineID != "" && cur.machineID != "" {
		return saved.MachineID == cur.machineID
	}
	if saved.HostName != "" && cur.hostName != "" {
		return saved.HostName == cur.hostName
	}
	return true
}

// stateFromAnotherMachine reports whether the loaded state was last saved
// on another machine (its baseline's identity, by sameHost). Read before
// restore, which stamps this machine's identity on the baseline.
func (a *Agent) stateFromAnotherMachine() bool {
	b := a.st.Baseline
	return b != nil && !sameHost(b, readIdentity(a.cfg.ProcRoot, a.cfg.HostName))
}

// baseline captures the raw readings the last split ended on.
func (a *Agent) baseline(now time.Time, readings []meter.Reading) *state.Baseline {
	b := a.st.Baseline
	if b == nil {
		b = &state.Baseline{}
	}
	b.Time = now
	b.Meter = a.src.Meter.Name()
	b.BusyNS, b.CPUs = a.split.cpu.BusyNS, a.split.cpu.CPUs
	b.Readings = b.Readings[:0]
	for _, r := range readings {
		b.Readings = append(b.Readings, state.Reading{Kind: r.Kind, Socket: r.Socket, EnergyUJ: r.EnergyUJ, MaxRangeUJ: r.MaxRangeUJ})
	}
	if b.Domains == nil {
		b.Domains = map[string][2]uint64{}
	}
	clear(b.Domains)
	for uuid, r := range a.split.raw {
		b.Domains[uuid] = [2]uint64{r.vcpu, r.cpu}
	}
	return b
}

// restore continues from the saved baseline when the agent was down for
// less than maxRestoreGap, reads the same kind of meter, on the same host,
// in the same boot. Whatever it decides, the state's baseline afterwards
// carries this machine's identity (and, for fresh baselines, no readings),
// so that what is saved next, even before a first tick, is never taken for
// this boot's counters.
func (a *Agent) restore(now time.Time) {
	cur := readIdentity(a.cfg.ProcRoot, a.cfg.HostName)
	b := a.st.Baseline
	fresh := &state.Baseline{BootID: cur.bootID, HostName: cur.hostName, MachineID: cur.machineID}
	a.st.Baseline = fresh
	if b == nil || a.src.Meter == nil {
		return
	}
	gap := now.Sub(b.Time)
	switch {
	case b.Meter != a.src.Meter.Name() || b.Meter == "demo" || len(b.Readings) == 0:
		a.log.Info("fresh baselines: the saved ones come from another meter", "saved_meter", b.Meter)
		return
	case b.Meter == meter.EstimatorName:
		a.log.Info("fresh baselines: the estimating meter's counters start at 0 in each process; the downtime is not counted")
		return
	case b.BootID != "" && b.BootID != cur.bootID:
		a.log.Info("fresh baselines: the machine rebooted since the state was saved (its energy counters restarted); the downtime is not counted",
			"saved_boot_id", b.BootID, "boot_id", cur.bootID)
		return
	case !sameHost(b, cur):
		a.log.Info("fresh baselines: the state file was saved on another host; its raw counters mean nothing here and the gap is not counted",
			"saved_host", b.HostName, "saved_machine_id", b.MachineID, "host", cur.hostName, "machine_id", cur.machineID)
		return
	case gap < 0 || gap > maxRestoreGap:
		a.log.Info("fresh baselines: the agent was down too long to trust the saved counters; that time is not counted",
			"down_for", gap.Round(time.Millisecond), "limit", maxRestoreGap)
		return
	}
	rs := make([]meter.Reading, len(b.Readings))
	for i, r := range b.Readings {
		rs[i] = meter.Reading{Kind: r.Kind, Socket: r.Socket, EnergyUJ: r.EnergyUJ, MaxRangeUJ: r.MaxRangeUJ}
	}
	a.tracker.Update(rs, 0) // a fresh tracker: every zone takes its baseline
	a.lastMeter = b.Time
	a.split.ok = true
	a.split.time = b.Time
	a.split.cpu = procstat.CPU{BusyNS: b.BusyNS, CPUs: b.CPUs}
	for uuid, r := range b.Domains {
		a.split.raw[uuid] = rawTimes{vcpu: r[0], cpu: r[1]}
	}
	b.BootID, b.HostName, b.MachineID = cur.bootID, cur.hostName, cur.machineID
	a.st.Baseline = b
	a.log.Info("continuing from the saved counters: the downtime is measured and split", "down_for", gap.Round(time.Millisecond))
}

// meterDeltas turns this tick's readings into deltas, each bounded by its
// zone's ceiling over the time since the last reading (a reset counts 0),
// and reports the resets.
func (a *Agent) meterDeltas(rs []meter.Reading, now time.Time) []meter.Delta {
	var elapsed time.Duration
	if !a.lastMeter.IsZero() {
		elapsed = now.Sub(a.lastMeter)
	}
	ds := a.tracker.Update(rs, elapsed)
	a.noteResets(ds, rs, elapsed)
	return ds
}

// noteResets counts and logs the meter counters the tracker found reset
// this tick (their delta was 0 and nothing was invented): one log line per
// tick that has any, naming every reset zone.
func (a *Agent) noteResets(ds []meter.Delta, rs []meter.Reading, elapsed time.Duration) {
	var zones []string
	var discarded uint64
	first := -1
	for i, d := range ds {
		if !d.Reset {
			continue
		}
		a.obs.errors.WithLabelValues(stageMeterReset).Inc()
		zones = append(zones, hostKey(d.Kind, d.Socket))
		discarded += d.DiscardedUJ
		if first < 0 {
			first = i
		}
	}
	if first < 0 {
		return
	}
	a.log.Warn("meter counter reset (a reboot, a driver reload, or a jump faster than the zone can draw): "+
		"its delta counts 0 and the reading is the new baseline",
		"zones", zones, "path", rs[first].Path, "discarded_j", float64(discarded)/1e6,
		"elapsed", elapsed.Round(time.Millisecond), "ceiling_w", float64(rs[first].Ceiling())/1e6)
}

// stageMeterReset is the virtwatt_errors_total stage of a counter reset.
const stageMeterReset = "meter_reset"
