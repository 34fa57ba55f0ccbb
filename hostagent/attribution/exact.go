package attribution

import "math/bits"

// maxEnergyUJ bounds the energy one tick may split (about 4.6e12 J, far
// beyond any real zone); a larger value goes to the host whole.
const maxEnergyUJ = 1 << 62

// exactShares fills s.use and s.tot (one per VM, same order as t.VMs) with
// the exact (fixed-point) usage part and usage+idle total of each VM, after
// the clamps of the design: Σu > B takes B = Σu; Σu > C scales u down to C.
// It returns false when nothing can go to VMs (E == 0, C == 0, no VMs, or an
// absurd E), leaving the caller to give the host everything.
func (s *ZoneSplitter) exactShares(t Tick) bool {
	n := len(t.VMs)
	s.use = resize(s.use, n)
	s.tot = resize(s.tot, n)
	s.w = resize(s.w, n)
	if t.EnergyUJ == 0 || t.CapacityNS == 0 || n == 0 || t.EnergyUJ > maxEnergyUJ {
		return false
	}
	E, C := t.EnergyUJ, t.CapacityNS
	withOverhead := s.policy.Overhead != OverheadHost

	// Usage weights. If they (or their sum) overflow 64 bits, shift them all
	// right until they fit: such sums exceed any C, so they are scaled down
	// to C anyway, and the shift keeps their proportions to 64-bit precision.
	var U uint64
	for shift := uint(0); ; shift++ {
		U = 0
		ok := true
		for i, vm := range t.VMs {
			u := vm.VCPUTimeNS >> shift
			if withOverhead {
				var c uint64
				u, c = bits.Add64(u, vm.OverheadNS>>shift, 0)
				ok = ok && c == 0
			}
			s.w[i] = u
			var c uint64
			U, c = bits.Add64(U, u, 0)
			ok = ok && c == 0
		}
		if ok {
			break
		}
	}

	if t.Model == ModelCurve {
		s.curveShares(t, U)
		return true
	}
	if U > C {
		// VMs used more than the capacity (counters read at different
		// instants): scale usage to C, so B = C and there is no idle.
		for i, u := range s.w {
			s.use[i] = mulDiv(E, u, U)
			s.tot[i] = s.use[i]
		}
		return true
	}
	B := max(t.BusyNS, U)
	B = min(B, C)

	for i, u := range s.w {
		s.use[i] = mulDiv(E, u, C)
	}
	switch s.policy.Idle {
	case IdleBusy:
		// usage + idle×u/B = E×u/C + E×(C−B)/C × u/B = E×u/B.
		for i, u := range s.w {
			if u == 0 { // also covers B == 0, where every u is 0
				s.tot[i] = s.use[i]
				continue
			}
			t := mulDiv(E, u, B)
			if t.less(s.use[i]) { // B == C: equal up to truncation
				t = s.use[i]
			}
			s.tot[i] = t
		}
	case IdleVCPUs:
		var sumV uint64
		for _, vm := range t.VMs {
			var c uint64
			if sumV, c = bits.Add64(sumV, uint64(max(vm.VCPUs, 0)), 0); c != 0 {
				sumV = 1 << 63 // absurd: treated as "no idle to VMs" below
				break
			}
		}
		D := max(sumV, uint64(max(t.HostCPUs, 0)))
		if D == 0 || D >= 1<<63 || B == C {
			copy(s.tot, s.use)
			break
		}
		idle := mulDiv(E, C-B, C)
		for i, vm := range t.VMs {
			s.tot[i] = s.use[i].add(idle.mulDiv(uint64(max(vm.VCPUs, 0)), D))
		}
	default: // IdleHost, and an unknown policy: VMs get usage only
		copy(s.tot, s.use)
	}
	return true
}

// curveShares fills s.use and s.tot by the power curve: the static part
// S = min(StaticUJ, E) by the idle policy, the dynamic rest D = E − S by
// usage over B = max(busy, Σu) (no capacity clamp is needed: u_i ≤ B).
func (s *ZoneSplitter) curveShares(t Tick, U uint64) {
	E := t.EnergyUJ
	S := min(t.StaticUJ, E)
	D := E - S
	B := max(t.BusyNS, U)
	for i, u := range s.w {
		if u == 0 { // also covers B == 0
			s.use[i] = fx{}
			continue
		}
		s.use[i] = mulDiv(D, u, B)
	}
	switch s.policy.Idle {
	case IdleBusy:
		for i, u := range s.w {
			if u == 0 {
				s.tot[i] = s.use[i]
				continue
			}
			s.tot[i] = s.use[i].add(mulDiv(S, u, B))
		}
	case IdleVCPUs:
		Dv, ok := vcpuDivisor(t)
		if !ok || S == 0 {
			copy(s.tot, s.use)
			break
		}
		for i, vm := range t.VMs {
			s.tot[i] = s.use[i].add(mulDiv(S, uint64(max(vm.VCPUs, 0)), Dv))
		}
	default:
		copy(s.tot, s.use)
	}
}

// vcpuDivisor is max(Σ allocated vCPUs, host CPUs); false when it is 0 or
// absurd (then no idle goes to VMs).
func vcpuDivisor(t Tick) (uint64, bool) {
	var sumV uint64
	for _, vm := range t.VMs {
		var c uint64
		if sumV, c = bits.Add64(sumV, uint64(max(vm.VCPUs, 0)), 0); c != 0 {
			return 0, false
		}
	}
	D := max(sumV, uint64(max(t.HostCPUs, 0)))
	return D, D != 0 && D < 1<<63
}

func resize[T any](b []T, n int) []T {
	if cap(b) < n {
		return make([]T, n, n+n/4)
	}
	return b[:n]
}
