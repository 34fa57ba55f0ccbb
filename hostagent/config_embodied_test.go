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
	} {
		_, err := ParseConfig(c.args, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: want an error naming %q, got %v", c.args, c.want, err)
		}
	}
}
