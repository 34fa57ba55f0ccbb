package estimate

import (
	"math"
	"testing"
)

func TestServerEmbodiedKgCO2e(t *testing.T) {
	for _, c := range []struct {
		name     string
		base     float64
		sockets  int
		memoryGB float64
		want     float64
	}{
		{"reference, nothing given", ServerBaseKgCO2e, 0, 0, 1000},
		{"one socket, 16 GB: the reference itself", 1000, 1, 16, 1000},
		{"two sockets", 1000, 2, 0, 1100},
		{"384 GB adds the R740's 533 kg for its DIMMs, less the 16 GB base", 1000, 1, 384, 1000 + 533.0*(384-16)/384},
		{"two sockets, 256 GB", 1000, 2, 256, 1100 + 533.0/384*240},
		{"less memory than the reference adds nothing", 1000, 1, 8, 1000},
		{"own figure, scaled", 2500, 4, 0, 2800},
		{"negative base", -5, 2, 0, 100},
		{"NaN base", math.NaN(), 0, 0, 0},
		{"Inf memory", 1000, 1, math.Inf(1), 1000},
	} {
		if got := ServerEmbodiedKgCO2e(c.base, c.sockets, c.memoryGB); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("%s: ServerEmbodiedKgCO2e(%v, %d, %v) = %v, want %v", c.name, c.base, c.sockets, c.memoryGB, got, c.want)
		}
	}
}
