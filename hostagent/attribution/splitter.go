package attribution

// VM is one VM's inputs for one tick (deltas over the tick).
type VM struct {
	VCPUTimeNS uint64 // Σ vcpu time delta
	OverheadNS uint64 // (cpu.time − Σ vcpu.time) delta; 0 when not reported
	VCPUs      int    // allocated vCPUs (for the "vcpus" idle policy); a non-running VM has 0 and gets no idle
}

// Tick is one zone's inputs for one tick.
type Tick struct {
	EnergyUJ   uint64 // wrap-corrected host energy in this zone over the tick
	CapacityNS uint64 // elapsed × online CPUs
	BusyNS     uint64 // host busy time delta from /proc/stat
	HostCPUs   int
	VMs        []VM

	// Model says how the energy divides into an idle and a usage part:
	// ModelTime ("" too) by idle CPU time; ModelCurve by the host's power
	// curve, with StaticUJ the curve's static energy over the tick (idle
	// power × elapsed time), of which the split takes min(StaticUJ,
	// EnergyUJ).
	Model    Model
	StaticUJ uint64
}

// Share is one VM's integer energy for one tick: the part from its own CPU
// usage and its share of the idle energy.
type Share struct {
	UsageUJ, IdleUJ uint64
}

// TotalUJ is UsageUJ + IdleUJ.
func (s Share) TotalUJ() uint64 { return s.UsageUJ + s.IdleUJ }

// Result is the split of one tick. Σ VMs[i].TotalUJ() + HostUJ == EnergyUJ.
type Result struct {
	VMs    []Share // same order as Tick.VMs; valid until the next Split
	HostUJ uint64  // everything no VM got (host processes + idle kept by host + rounding)
	// StaticUJ is, with ModelCurve, the static part of the tick's energy,
	// min(Tick.StaticUJ, Tick.EnergyUJ) (the dynamic part is the rest);
	// 0 with ModelTime.
	StaticUJ uint64
}

// carry is what a VM is still owed (exact − given, in µJ; negative when it
// was given more than its exact share so far).
type carry struct {
	total fx // usage + idle
	usage fx
}

// ZoneSplitter carries rounding remainders between ticks for one zone, so that
// each VM's cumulative integer share tracks its exact rational share: every
// tick each VM's claim is its exact share plus what it is still owed, and the
// energy is apportioned over the VMs and the host by largest remainder (see
// apportion); the usage/idle parts of a VM's integer total are then rounded
// with a carry of their own.
//
// Guarantees: every tick Σ VM shares + host share == E exactly and nothing
// is negative. Cumulatively, each VM's integer total stays close to its
// exact rational share: the remainders carried are below 1 µJ in the usual
// case, and the property test (100,000 random ticks, tiny adversarial values
// included) asserts overpaid ≤ 1 µJ, underpaid < 2 µJ and each usage/idle
// part within 2 µJ. Exactly 1 µJ cannot be promised by any per-tick rule
// that never hands out negative energy: a VM overpaid earlier that gets no
// share this tick cannot give back, and the others may then have to wait.
//
// Keys identify VMs across ticks; their order may change and VMs may come
// and go. A VM absent from a tick keeps its remainder until Forget. Use one
// ZoneSplitter per zone. A ZoneSplitter is not safe for concurrent use.
type ZoneSplitter struct {
	policy Policy
	owed   map[string]carry
	host   fx // what the host is still owed

	// The carries of the last tick's VMs, when its keys were all distinct
	// and non-empty: last[i] is the carry of lastKeys[i], and those keys
	// are not in owed. A tick with the same keys in the same order (the
	// steady state) reads and writes last without a map lookup; any other
	// tick, and Forget, first put them back into owed.
	lastKeys []string
	last     []carry
	mapOnly  bool // never use last (the tests' reference)

	// per-tick buffers, reused
	use, tot, y []fx
	w, n        []uint64
	idx         []int32
	cur         []carry
	out         []Share
}

// NewZoneSplitter returns a ZoneSplitter for one zone. An invalid policy (see
// Policy.Validate) behaves as idle "host" and overhead "vm".
func NewZoneSplitter(p Policy) *ZoneSplitter {
	return &ZoneSplitter{policy: p, owed: make(map[string]carry)}
}

// Policy returns the policy the ZoneSplitter was made with.
func (s *ZoneSplitter) Policy() Policy { return s.policy }

// Split splits one tick's energy. keys[i] identifies t.VMs[i]; a VM without
// a key (keys shorter than t.VMs, or "") gets its share rounded without a
// carry. Result.VMs is reused by the next call: copy it to keep it.
func (s *ZoneSplitter) Split(t Tick, keys []string) Result {
	m := len(t.VMs)
	s.out = resize(s.out, m)
	clear(s.out)
	var static uint64
	if t.Model == ModelCurve {
		static = min(t.StaticUJ, t.EnergyUJ)
	}
	if !s.exactShares(t) {
		// Nothing for VMs (E == 0, C == 0, no VMs): the host gets E exactly,
		// which is also its exact share, so every carry stays as it is.
		return Result{VMs: s.out, HostUJ: t.EnergyUJ, StaticUJ: static}
	}
	E := t.EnergyUJ

	// Level 1: apportion E over the VMs' totals and the host.
	s.y = resize(s.y, m+1)
	s.n = resize(s.n, m+1)
	s.idx = resize(s.idx, m+1)
	s.cur = resize(s.cur, m)
	same := s.sameKeys(keys, m)
	if !same {
		s.flush()
	}
	hostExact := fxInt(E)
	for i := range m {
		if same {
			s.cur[i] = s.last[i]
		} else {
			s.cur[i] = s.carryOf(keys, i)
		}
		hostExact = hostExact.sub(s.tot[i])
		s.y[i] = s.cur[i].total.add(s.tot[i])
	}
	s.y[m] = s.host.add(hostExact)
	apportion(s.y, s.n, E, s.idx)
	s.host = s.y[m]

	// Level 2: split each VM's integer total into usage and idle.
	for i := range m {
		total := s.n[i]
		yu := s.cur[i].usage.add(s.use[i])
		// The total is off its exact claim by s.y[i] (what the VM is still
		// owed); share that residual evenly between usage and idle, so that
		// each part stays within 1 µJ of its own exact cumulative share.
		u := uint64(0)
		if r := yu.sub(s.y[i].half()).roundHalfUp(); r > 0 {
			u = min(uint64(r), total)
		}
		s.out[i] = Share{UsageUJ: u, IdleUJ: total - u}
		switch {
		case same:
			s.last[i] = carry{total: s.y[i], usage: yu.sub(fxInt(u))}
		case i < len(keys) && keys[i] != "":
			s.owed[keys[i]] = carry{total: s.y[i], usage: yu.sub(fxInt(u))}
		default:
			s.host = s.host.add(s.y[i]) // as if forgotten at once
		}
	}
	if !same {
		s.adopt(keys, m)
	}
	return Result{VMs: s.out, HostUJ: s.n[m], StaticUJ: static}
}

// sameKeys reports whether keys[:m] are the keys of s.last, in order.
func (s *ZoneSplitter) sameKeys(keys []string, m int) bool {
	if len(keys) < m || len(s.lastKeys) != m || m == 0 {
		return false
	}
	for i, k := range s.lastKeys {
		if keys[i] != k {
			return false
		}
	}
	return true
}

// flush puts the carries of s.last back into owed.
func (s *ZoneSplitter) flush() {
	for i, k := range s.lastKeys {
		s.owed[k] = s.last[i]
	}
	clear(s.lastKeys) // drop the references to the caller's strings
	s.lastKeys, s.last = s.lastKeys[:0], s.last[:0]
}

// adopt moves the carries of keys[:m] out of owed into s.last, when the
// keys are m distinct non-empty ones (owed holds each of them after a
// Split); otherwise everything stays in owed.
func (s *ZoneSplitter) adopt(keys []string, m int) {
	if len(keys) < m || m == 0 || s.mapOnly {
		return
	}
	for i := range m {
		c, ok := s.owed[keys[i]]
		if !ok { // "" or a key seen twice: stay with the map
			s.flush()
			return
		}
		s.lastKeys = append(s.lastKeys, keys[i])
		s.last = append(s.last, c)
		delete(s.owed, keys[i])
	}
}

func (s *ZoneSplitter) carryOf(keys []string, i int) carry {
	if i < len(keys) && keys[i] != "" {
		return s.owed[keys[i]]
	}
	return carry{}
}

// Forget drops the carry of a VM that vanished. What it was still owed (or
// owed back) passes to the host, so that cumulative host + VM counters keep
// tracking cumulative energy.
func (s *ZoneSplitter) Forget(key string) {
	s.flush()
	if c, ok := s.owed[key]; ok {
		s.host = s.host.add(c.total)
		delete(s.owed, key)
	}
}
