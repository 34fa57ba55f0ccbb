package powercurve

// Default window shape: 16 load levels × 32 points.
const (
	DefaultBins   = 16
	DefaultPerBin = 32
)

// Window keeps the newest PerBin points of each of Bins load levels (bin
// i holds busy fractions in [i/Bins, (i+1)/Bins), a fully busy host in the
// last bin). It never holds more than Bins × PerBin points.
type Window struct {
	perBin int
	bins   [][]Point // each oldest first
}

// NewWindow returns an empty window; bins or perBin below 1 take the
// defaults.
func NewWindow(bins, perBin int) *Window {
	if bins < 1 {
		bins = DefaultBins
	}
	if perBin < 1 {
		perBin = DefaultPerBin
	}
	return &Window{perBin: perBin, bins: make([][]Point, bins)}
}

// Add adds p observed on a host with cpus online CPUs, dropping the
// oldest point of its bin when the bin is full. A point that is not finite,
// negative, or busier than cpus (beyond rounding) is ignored; Add reports
// whether p was kept.
func (w *Window) Add(p Point, cpus int) bool {
	if cpus < 1 || !finite(p.BusyCPUs) || !finite(p.PowerW) || p.BusyCPUs < 0 || p.PowerW < 0 ||
		p.BusyCPUs > float64(cpus)*1.05 || p.PowerW > maxUW/1e6 {
		return false
	}
	i := int(p.BusyCPUs / float64(cpus) * float64(len(w.bins)))
	i = min(max(i, 0), len(w.bins)-1)
	b := w.bins[i]
	if len(b) == w.perBin {
		copy(b, b[1:])
		b = b[:len(b)-1]
	}
	w.bins[i] = append(b, p)
	return true
}

// Len is the number of points held.
func (w *Window) Len() int {
	n := 0
	for _, b := range w.bins {
		n += len(b)
	}
	return n
}

// AppendPoints appends every point held to dst, bin by bin, oldest first.
func (w *Window) AppendPoints(dst []Point) []Point {
	for _, b := range w.bins {
		dst = append(dst, b...)
	}
	return dst
}

// Bins is the number of load levels; PerBin the points kept in each.
func (w *Window) Bins() int   { return len(w.bins) }
func (w *Window) PerBin() int { return w.perBin }
