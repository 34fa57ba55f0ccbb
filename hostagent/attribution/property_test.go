package attribution

import (
	"math/big"
	"math/rand/v2"
	"strconv"
	"testing"
)

// refScale is the fixed point of the reference cumulative shares: each tick's
// exact rational share is floored at 2^-128 µJ, so after n ticks the
// reference is below the exact cumulative share by less than n×2^-128 µJ.
const refScaleBits = 128

// reference computes, with math/big, the exact shares of DESIGN.md for one
// tick, written straight from the formulas (independently of the
// fixed-point code): out[i] = floor(share × 2^128) for usage and idle.
type reference struct {
	tmp, num, den, q big.Int
}

func (r *reference) shares(p Policy, t Tick, usage, idle []*big.Int) {
	for i := range t.VMs {
		usage[i].SetInt64(0)
		idle[i].SetInt64(0)
	}
	if t.EnergyUJ == 0 || t.CapacityNS == 0 || len(t.VMs) == 0 {
		return
	}
	E := new(big.Int).SetUint64(t.EnergyUJ)
	C := new(big.Int).SetUint64(t.CapacityNS)
	u := make([]*big.Int, len(t.VMs))
	U := new(big.Int)
	V := new(big.Int)
	for i, vm := range t.VMs {
		u[i] = new(big.Int).SetUint64(vm.VCPUTimeNS)
		if p.Overhead == OverheadVM {
			u[i].Add(u[i], new(big.Int).SetUint64(vm.OverheadNS))
		}
		U.Add(U, u[i])
		V.Add(V, big.NewInt(int64(vm.VCPUs)))
	}
	// scaled floor of a/b × 2^128 into dst
	frac := func(dst, a, b *big.Int) {
		r.num.Lsh(a, refScaleBits)
		dst.Quo(&r.num, b)
	}
	if t.Model == ModelCurve {
		r.curveShares(p, t, E, u, U, V, usage, idle, frac)
		return
	}
	if U.Cmp(C) > 0 {
		for i := range u {
			frac(usage[i], r.tmp.Mul(E, u[i]), U)
		}
		return
	}
	B := new(big.Int).SetUint64(t.BusyNS)
	if B.Cmp(U) < 0 {
		B.Set(U)
	}
	if B.Cmp(C) > 0 {
		B.Set(C)
	}
	idleE := new(big.Int).Mul(E, new(big.Int).Sub(C, B)) // idle = idleE / C
	D := new(big.Int).Set(V)
	if h := big.NewInt(int64(t.HostCPUs)); h.Cmp(D) > 0 {
		D = h
	}
	for i, vm := range t.VMs {
		frac(usage[i], r.tmp.Mul(E, u[i]), C)
		switch p.Idle {
		case IdleVCPUs:
			if D.Sign() > 0 {
				r.den.Mul(C, D)
				frac(idle[i], r.tmp.Mul(idleE, big.NewInt(int64(vm.VCPUs))), &r.den)
			}
		case IdleBusy:
			if B.Sign() > 0 {
				r.den.Mul(C, B)
				frac(idle[i], r.tmp.Mul(idleE, u[i]), &r.den)
			}
		}
	}
}

// curveShares is the reference of the power-curve model, from the formulas
// of the package doc: S = min(StaticUJ, E), D = E − S, B = max(busy, Σu);
// usage D×u/B; idle S×vCPUs/max(ΣvCPUs, host CPUs) or S×u/B by policy.
func (r *reference) curveShares(p Policy, t Tick, E *big.Int, u []*big.Int, U, V *big.Int, usage, idle []*big.Int, frac func(dst, a, b *big.Int)) {
	S := new(big.Int).SetUint64(t.StaticUJ)
	if S.Cmp(E) > 0 {
		S.Set(E)
	}
	D := new(big.Int).Sub(E, S)
	B := new(big.Int).SetUint64(t.BusyNS)
	if B.Cmp(U) < 0 {
		B.Set(U)
	}
	Dv := new(big.Int).Set(V)
	if h := big.NewInt(int64(t.HostCPUs)); h.Cmp(Dv) > 0 {
		Dv = h
	}
	for i, vm := range t.VMs {
		if B.Sign() > 0 {
			frac(usage[i], r.tmp.Mul(D, u[i]), B)
		}
		switch p.Idle {
		case IdleVCPUs:
			if Dv.Sign() > 0 {
				frac(idle[i], r.tmp.Mul(S, big.NewInt(int64(vm.VCPUs))), Dv)
			}
		case IdleBusy:
			if B.Sign() > 0 {
				frac(idle[i], r.tmp.Mul(S, u[i]), B)
			}
		}
	}
}

// withCurve makes t a power-curve tick with a static energy below, near or
// above its energy.
func withCurve(rng *rand.Rand, t Tick) Tick {
	t.Model = ModelCurve
	switch rng.IntN(4) {
	case 0:
		t.StaticUJ = 0
	case 1:
		t.StaticUJ = t.EnergyUJ + rng.Uint64N(1000) // more than measured: all static
	default:
		t.StaticUJ = rng.Uint64N(t.EnergyUJ + 1)
	}
	return t
}

// vmTrack is one VM's cumulative integer and reference shares since it
// (re)appeared.
type vmTrack struct {
	present          bool
	usage, idle      uint64   // cumulative integers
	refUsage, refIdl *big.Int // cumulative reference × 2^128
	ticks            int
}

func randTick(rng *rand.Rand, n int, tiny bool) Tick {
	var t Tick
	if tiny {
		// A few µJ over a few ns: every share is a small awkward fraction,
		// the hardest case for rounding.
		t = Tick{EnergyUJ: rng.Uint64N(6), CapacityNS: 1 + rng.Uint64N(12), HostCPUs: 1 + rng.IntN(3)}
		t.VMs = make([]VM, n)
		for i := range t.VMs {
			t.VMs[i] = VM{VCPUTimeNS: rng.Uint64N(4), OverheadNS: rng.Uint64N(2), VCPUs: rng.IntN(3)}
		}
		t.BusyNS = rng.Uint64N(t.CapacityNS + 1)
		return t
	}
	switch rng.IntN(4) {
	case 0:
		t.EnergyUJ = rng.Uint64N(20)
	case 1:
		t.EnergyUJ = rng.Uint64N(1_000_000)
	default:
		t.EnergyUJ = rng.Uint64N(1_000_000_000_001)
	}
	var maxC uint64 = 1_000_000_000_000_001
	if rng.IntN(4) == 0 {
		maxC = 100 // tiny times: many ties and exact halves
	}
	t.CapacityNS = rng.Uint64N(maxC)
	if rng.IntN(50) == 0 {
		t.CapacityNS = 0
	}
	t.HostCPUs = 1 + rng.IntN(64)
	t.VMs = make([]VM, n)
	// Mode: plain, Σv > B, Σv > C, B > C.
	mode := rng.IntN(4)
	budget := t.CapacityNS
	if mode == 2 {
		budget = 3*t.CapacityNS + 1
	}
	var sum uint64
	for i := range t.VMs {
		var v, o uint64
		if n > 0 && budget > 0 {
			v = rng.Uint64N(budget/uint64(n) + 1)
			if rng.IntN(3) == 0 {
				o = rng.Uint64N(v/4 + 1)
			}
		}
		if rng.IntN(10) == 0 {
			v, o = 0, 0
		}
		t.VMs[i] = VM{VCPUTimeNS: v, OverheadNS: o, VCPUs: rng.IntN(9)}
		sum += v + o
	}
	switch mode {
	case 0:
		if t.CapacityNS > sum {
			t.BusyNS = sum + rng.Uint64N(t.CapacityNS-sum+1)
		} else {
			t.BusyNS = t.CapacityNS
		}
	case 1:
		t.BusyNS = rng.Uint64N(sum + 1)
	case 2:
		t.BusyNS = t.CapacityNS
	case 3:
		t.BusyNS = t.CapacityNS + rng.Uint64N(t.CapacityNS+1)
	}
	return t
}

func TestSplitProperty(t *testing.T) {
	const pool = 60
	seqs, minTicks := 500, 100_000
	if testing.Short() {
		seqs, minTicks = 50, 10_000
	}
	policies := []Policy{}
	for _, i := range []IdlePolicy{IdleHost, IdleVCPUs, IdleBusy} {
		for _, o := range []OverheadPolicy{OverheadVM, OverheadHost} {
			policies = append(policies, Policy{i, o})
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var ref reference
	one := new(big.Int).Lsh(big.NewInt(1), refScaleBits)
	// Worst cumulative integer − reference (over- and underpaid), in units
	// of 2^-128 µJ.
	overTotal, underTotal, worstPart := new(big.Int), new(big.Int), new(big.Int)
	diff := new(big.Int)
	ticks := 0
	usageBuf, idleBuf := make([]*big.Int, pool), make([]*big.Int, pool)
	for i := range usageBuf {
		usageBuf[i], idleBuf[i] = new(big.Int), new(big.Int)
	}
	for seq := 0; seq < seqs || ticks < minTicks; seq++ {
		p := policies[rng.IntN(len(policies))]
		tiny := seq%4 == 3
		curve := seq%2 == 1 // the power-curve model on every other sequence
		s := NewZoneSplitter(p)
		tr := make([]vmTrack, pool)
		for k := range tr {
			tr[k].refUsage, tr[k].refIdl = new(big.Int), new(big.Int)
			tr[k].present = rng.IntN(2) == 0
		}
		for range 50 + rng.IntN(250) {
			ticks++
			// Appearances and vanishings; a vanished VM is forgotten at
			// once or later (its carry kept meanwhile) or never.
			var present []int
			for k := range tr {
				if rng.IntN(20) == 0 {
					tr[k].present = !tr[k].present
				}
				if !tr[k].present && rng.IntN(10) == 0 && tr[k].ticks > 0 {
					s.Forget(strconv.Itoa(k))
					tr[k] = vmTrack{refUsage: new(big.Int), refIdl: new(big.Int)}
				}
				if tr[k].present && len(present) < 50 {
					present = append(present, k)
				}
			}
			rng.Shuffle(len(present), func(i, j int) { present[i], present[j] = present[j], present[i] })
			tick := randTick(rng, len(present), tiny)
			if curve {
				tick = withCurve(rng, tick)
			}
			keys := make([]string, len(present))
			for i, k := range present {
				keys[i] = strconv.Itoa(k)
			}
			res := s.Split(tick, keys)

			sum := res.HostUJ
			for _, sh := range res.VMs {
				sum += sh.TotalUJ()
			}
			if sum != tick.EnergyUJ || len(res.VMs) != len(present) {
				t.Fatalf("tick %d (%+v, %s): Σ VMs + host = %d, want %d", ticks, p, tick.Model, sum, tick.EnergyUJ)
			}
			if want := min(tick.StaticUJ, tick.EnergyUJ); curve && res.StaticUJ != want || !curve && res.StaticUJ != 0 {
				t.Fatalf("tick %d (%s): static part %d µJ, want min(%d, %d)", ticks, tick.Model, res.StaticUJ, tick.StaticUJ, tick.EnergyUJ)
			}

			usage, idle := usageBuf[:len(present)], idleBuf[:len(present)]
			ref.shares(p, tick, usage, idle)
			for i, k := range present {
				v := &tr[k]
				v.ticks++
				v.usage += res.VMs[i].UsageUJ
				v.idle += res.VMs[i].IdleUJ
				v.refUsage.Add(v.refUsage, usage[i])
				v.refIdl.Add(v.refIdl, idle[i])
				// total
				diff.SetUint64(v.usage + v.idle)
				diff.Mul(diff, one)
				diff.Sub(diff, v.refUsage)
				diff.Sub(diff, v.refIdl)
				if diff.Cmp(overTotal) > 0 {
					overTotal.Set(diff)
				}
				if diff.Cmp(underTotal) < 0 {
					underTotal.Set(diff)
				}
				for _, part := range []struct {
					n   uint64
					ref *big.Int
				}{{v.usage, v.refUsage}, {v.idle, v.refIdl}} {
					diff.SetUint64(part.n)
					diff.Mul(diff, one)
					diff.Sub(diff, part.ref)
					if diff.CmpAbs(worstPart) > 0 {
						worstPart.Abs(diff)
					}
				}
			}
		}
	}
	toF := func(x *big.Int) float64 { f, _ := new(big.Rat).SetFrac(x, one).Float64(); return f }
	t.Logf("%d ticks; worst cumulative VM total: overpaid %.6f µJ, underpaid %.6f µJ; worst usage or idle part %.6f µJ",
		ticks, toF(overTotal), -toF(underTotal), toF(worstPart))
	// The bounds the ZoneSplitter keeps (see the ZoneSplitter doc): a VM is never
	// given more than 1 µJ beyond its exact cumulative share (reference
	// error ticks×2^-128 allowed for), and never left owed 2 µJ or more;
	// each part stays within 2 µJ either way.
	slack := big.NewInt(int64(ticks))
	limit := func(n int64) *big.Int { return new(big.Int).Mul(big.NewInt(n), one) }
	if overTotal.Cmp(new(big.Int).Add(limit(1), slack)) > 0 {
		t.Errorf("a VM was overpaid by %.6f µJ, want ≤ 1", toF(overTotal))
	}
	if new(big.Int).Neg(underTotal).Cmp(new(big.Int).Sub(limit(2), slack)) >= 0 {
		t.Errorf("a VM was underpaid by %.6f µJ, want < 2", -toF(underTotal))
	}
	if worstPart.Cmp(new(big.Int).Sub(limit(2), slack)) >= 0 {
		t.Errorf("a usage or idle part was off by %.6f µJ, want < 2", toF(worstPart))
	}
}
