package hostagent

import (
	"math"
	"strings"
	"testing"

	"github.com/virtwatt/virtwatt/estimate"
)

// The default is the reference rack server over 4 years, and the shipped
// config says so; the sockets and memory keys scale it; 0 turns it off.
func TestEmbodiedConfig(t *testing.T) {
	def := DefaultConfig()
	shipped, err := ParseConfig([]string{"--config", "../configs/host.toml"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []Config{def, shipped} {
		if c.EmbodiedKgCO2e != estimate.ServerBaseKgCO2e || c.LifetimeYears != 4 || c.EmbodiedSockets != 0 || c.EmbodiedMemoryGB != 0 {
			t.Fatalf("embodied defaults %v kg over %v years (%d sockets, %v GB), want the reference server's",
				c.EmbodiedKgCO2e, c.LifetimeYears, c.EmbodiedSockets, c.EmbodiedMemoryGB)
		}
	}
	total, life := def.embodiedFigures()
	if total != 1e12 || life != uint64(4*8766*3600)*1e9 {
		t.Fatalf("default figures %d µg over %d ns", total, life)
	}
	cfg, err := ParseConfig([]string{"--embodied-sockets", "2", "--embodied-memory-gb", "400"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.EmbodiedTotalKgCO2e(), 1000+100+533.0/384*384; math.Abs(got-want) > 1e-9 {
		t.Fatalf("two sockets, 400 GB: %v kg, want %v", got, want)
	}
	cfg, err = ParseConfig([]string{"--embodied-kgco2e", "0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if total, life := cfg.embodiedFigures(); total != 0 || life != 0 {
		t.Fatalf("embodied off still amortises %d µg over %d ns", total, life)
	}
}

func TestEmbodiedConfigErrorsNameTheKey(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--embodied-sockets", "-1"}, "embodied-sockets"},
		{[]string{"--embodied-memory-gb", "-3"}, "embodied-memory-gb"},
		{[]string{"--embodied-memory-gb", "NaN"}, "embodied-memory-gb"},
		{[]string{"--lifetime-years", "1000"}, "lifetime-years"},
		{[]string{"--lifetime-years", "0"}, "lifetime-years"},
		// Values whose figures would not fit the state (total_ug above
		// 2^63, lifetime_ns 0): the next start would refuse the file.
		{[]string{"--embodied-kgco2e", "Inf"}, "embodied-kgco2e"},
		{[]string{"--embodied-kgco2e", "1e300"}, "embodied-kgco2e"},
		{[]string{"--embodied-memory-gb", "1e9"}, "embodied-kgco2e"},
		{[]string{"--lifetime-years", "1e-300"}, "lifetime-years"},
		{[]string{"--lifetime-years", "1e-9"}, "lifetime-years"},
	} {
		_, err := ParseConfig(c.args, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: want an error naming %q, got %v", c.args, c.want, err)
		}
	}
}

// embodied_kgco2e = 0 turns embodied emissions off, whatever the sockets
// and memory keys would add to it.
func TestEmbodiedOffIgnoresScaling(t *testing.T) {
	cfg, err := ParseConfig([]string{"--embodied-kgco2e", "0", "--embodied-sockets", "2", "--embodied-memory-gb", "64"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if kg := cfg.EmbodiedTotalKgCO2e(); kg != 0 {
		t.Fatalf("embodied_kgco2e = 0 with 2 sockets, 64 GB: %v kg amortised, want 0", kg)
	}
	if total, life := cfg.embodiedFigures(); total != 0 || life != 0 {
		t.Fatalf("embodied off still amortises %d µg over %d ns", total, life)
	}
}
