package state

import (
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/share"
)

// Amortised is floor(base + total × min(elapsed, lifetime) / lifetime),
// exactly, for any 64-bit inputs (checked against math/big), saturating at
// MaxCounterUG.
func TestAmortisedExact(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		e := Embodied{TotalUG: r.Uint64() >> r.IntN(64), ElapsedNS: r.Uint64() >> r.IntN(64),
			LifetimeNS: 1 + r.Uint64()>>r.IntN(64), BaseUG: r.Uint64() >> (1 + r.IntN(63))}
		want := new(big.Int).Mul(new(big.Int).SetUint64(e.TotalUG), new(big.Int).SetUint64(min(e.ElapsedNS, e.LifetimeNS)))
		want.Quo(want, new(big.Int).SetUint64(e.LifetimeNS))
		want.Add(want, new(big.Int).SetUint64(e.BaseUG))
		if want.Cmp(new(big.Int).SetUint64(MaxCounterUG)) > 0 {
			want.SetUint64(MaxCounterUG)
		}
		if got := e.Amortised(); got != want.Uint64() {
			t.Fatalf("%+v: Amortised = %d, want %d", e, got, want)
		}
	}
	if (*Embodied)(nil).Amortised() != 0 || (&Embodied{BaseUG: 5, TotalUG: 9}).Amortised() != 5 {
		t.Fatal("nil or lifetime-less Embodied amortises something")
	}
	// 1,000 kg over 4 years: a quarter of it after one year, to the µg.
	year := uint64(8766 * 3600 * 1e9)
	if got := (&Embodied{TotalUG: 1e12, LifetimeNS: 4 * year, ElapsedNS: year}).Amortised(); got != 25e10 {
		t.Fatalf("a year of four: %d µg", got)
	}
	// A server kept beyond its lifetime has amortised all of its embodied
	// emissions, never more: five years of four is the whole total.
	for _, elapsed := range []uint64{4 * year, 5 * year, 1 << 63} {
		if got := (&Embodied{TotalUG: 1e12, LifetimeNS: 4 * year, ElapsedNS: elapsed, BaseUG: 7}).Amortised(); got != 1e12+7 {
			t.Fatalf("%d ns of a %d ns lifetime: %d µg amortised, want the total 1e12 + base 7", elapsed, 4*year, got)
		}
	}
}

// The embodied and emissions counters survive a save and a load, and a
// file without them (older agents) still loads, with nothing amortised.
func TestEmbodiedRoundTripAndOlderFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	st := New()
	st.Embodied = &Embodied{TotalUG: 1e12, LifetimeNS: 1e17, ElapsedNS: 3e9, BaseUG: 7, HostUG: 10, ForgottenUG: 4}
	st.VMs["u1"] = &VM{Instance: "i1", Zones: map[string]share.ZoneEnergy{},
		EmbodiedUG: 30000 + 7 - 10 - 4, EmbodiedBaseUG: 100, Emissions: Emissions{DynamicUG: 5, IdleUG: 6}}
	if err := st.Save(path, time.Now()); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if *got.Embodied != *st.Embodied || got.VMs["u1"].EmbodiedUG != 29993 || got.VMs["u1"].EmbodiedBaseUG != 100 ||
		got.VMs["u1"].Emissions != (Emissions{5, 6}) {
		t.Fatalf("lost: %+v %+v", got.Embodied, got.VMs["u1"])
	}

	old := filepath.Join(t.TempDir(), "old.json")
	if err := os.WriteFile(old, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err = Load(old)
	if err != nil {
		t.Fatalf("a file from before embodied counters: %v", err)
	}
	if st.Embodied != nil || st.VMs["u1"].EmbodiedUG != 0 || st.VMs["u1"].Emissions != (Emissions{}) {
		t.Fatalf("older file read as %+v", st)
	}
	st2 := New()
	st2.VMs["u1"] = &VM{Instance: "i", Zones: map[string]share.ZoneEnergy{}}
	if err := st2.Save(path, time.Now()); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	for _, k := range []string{"embodied", "emissions_ug"} {
		if strings.Contains(string(b), k) {
			t.Errorf("zero %s written: %s", k, b)
		}
	}
}

func TestLoadRefusesBadEmbodied(t *testing.T) {
	vm := func(body, embodied string) string {
		return `{"version":1,"vms":{"u1":` + body + `}` + embodied + `}`
	}
	const big = "9223372036854775809" // 2^63 + 1
	cases := []struct{ name, body, field string }{
		{"vm embodied over the bound", vm(`{"instance":"i","zones":{},"embodied_ug":`+big+`}`, ``), `vms["u1"].embodied_ug is 9223372036854775809 µg, above`},
		{"dynamic over the bound", vm(`{"instance":"i","zones":{},"emissions_ug":{"dynamic":`+big+`}}`, ``), `vms["u1"].emissions_ug.dynamic is`},
		{"idle over the bound", vm(`{"instance":"i","zones":{},"emissions_ug":{"idle":`+big+`}}`, ``), `vms["u1"].emissions_ug.idle is`},
		{"base above embodied", vm(`{"instance":"i","zones":{},"embodied_ug":5,"instance_base_embodied_ug":6}`, `,"embodied":{"base_ug":5}`),
			`vms["u1"].instance_base_embodied_ug (6 µg) is above embodied_ug (5 µg)`},
		{"VMs charged, nothing amortised", vm(`{"instance":"i","zones":{},"embodied_ug":5}`, ``), `embodied is missing, but the VMs were charged 5 µg`},
		{"host over the bound", `{"version":1,"embodied":{"host_ug":` + big + `}}`, `embodied.host_ug is 9223372036854775809 µg`},
		{"no lifetime", `{"version":1,"embodied":{"total_ug":5}}`, `embodied.lifetime_ns is 0`},
		{"does not add up", vm(`{"instance":"i","zones":{},"embodied_ug":5}`, `,"embodied":{"total_ug":100,"lifetime_ns":10,"elapsed_ns":1,"host_ug":4}`),
			`Σ vms embodied_ug (5) + host_ug (4) + forgotten_ug (0) = 9 µg, but base_ug + total_ug × elapsed_ns / lifetime_ns = 10 µg`},
		{"parts overflow", `{"version":1,"embodied":{"host_ug":9223372036854775808,"forgotten_ug":9223372036854775808}}`, `overflow`},
	}
	dir := t.TempDir()
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, "e"+string(rune('a'+i))+".json")
			if err := os.WriteFile(p, []byte(c.body), 0o600); err != nil {
				t.Fatal(err)
			}
			st, err := Load(p)
			if err == nil {
				t.Fatalf("accepted: %+v", st)
			}
			for _, want := range []string{p, c.field, "move the file aside"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
	// the same file, adding up, loads
	ok := vm(`{"instance":"i","zones":{},"embodied_ug":6}`, `,"embodied":{"total_ug":100,"lifetime_ns":10,"elapsed_ns":1,"host_ug":4}`)
	if _, err := Parse([]byte(ok)); err != nil {
		t.Fatalf("a consistent file is refused: %v", err)
	}
}
