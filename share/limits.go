package share

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Bounds both agents apply, kept here so that they live in one place: the
// host refuses to write what exceeds them, and the guest, which reads a
// share written by a stranger, drops or cuts what exceeds them.

// Zone names a record may carry. ZonePackage and ZoneDRAM are what
// virtwatt-host writes; the others are RAPL's remaining domains, accepted
// so that a host counting them stays readable. Any other name is dropped
// by the reader (Record.Sanitize), so that a share can never grow the
// guest's metrics without bound.
const (
	ZonePsys   = "psys"
	ZoneCore   = "core"
	ZoneUncore = "uncore"
)

// KnownZones lists every zone name a reader accepts, in a fixed order.
var KnownZones = []string{ZonePackage, ZoneDRAM, ZonePsys, ZoneCore, ZoneUncore}

// KnownZone reports whether name is one of KnownZones.
func KnownZone(name string) bool {
	switch name {
	case ZonePackage, ZoneDRAM, ZonePsys, ZoneCore, ZoneUncore:
		return true
	}
	return false
}

// CountedZone reports whether a reader adds zone's energy into a total:
// package and dram only. Core and uncore are inside package and psys
// contains it (virtwatt-host publishes a psys-only host as package), so
// summing them too would count the same energy twice; a reader accepts
// them but never adds them.
func CountedZone(name string) bool { return name == ZonePackage || name == ZoneDRAM }

// Labels from a domain's metadata, as the host keeps them and as a reader
// accepts them from a record.
const (
	// MaxLabels is the number of labels kept per domain.
	MaxLabels = 16
	// MaxLabelValueBytes is the length, in bytes, a label value is cut to
	// (at a UTF-8 boundary).
	MaxLabelValueBytes = 128
	// MaxFieldBytes bounds every other string of a record (host, domain,
	// uuid, instance, the sources): the NAME_MAX of Linux file systems,
	// which no host name, domain name or UUID exceeds.
	MaxFieldBytes = MaxNameLen
)

// ValidLabelName reports whether name is a Prometheus label name in the
// classic character set, [a-zA-Z_][a-zA-Z0-9_]*, and not reserved (a
// leading "__").
func ValidLabelName(name string) error {
	if name == "" {
		return errors.New("empty label name")
	}
	if strings.HasPrefix(name, "__") {
		return errors.New("label names starting with __ are reserved by Prometheus")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9')
		if !ok {
			return errors.New("not a valid Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)")
		}
	}
	return nil
}

// TruncateUTF8 cuts s to at most n bytes without splitting a rune.
func TruncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Intervals: the host's tick (--interval) and the guest's poll
// (--poll-interval) lie in [MinInterval, MaxInterval]. Below 10 ms an agent
// burns a core for no measurement (RAPL updates about every millisecond,
// and the split needs CPU time that moved); above an hour a share would
// take hours to be reported stale. A record's interval_seconds outside the
// range is ignored by the guest.
const (
	MinInterval = 10 * time.Millisecond
	MaxInterval = time.Hour
)

// CheckInterval returns an error, to be prefixed with the key or flag at
// fault, unless d lies in [MinInterval, MaxInterval]. Both agents use it,
// so that their messages read the same.
func CheckInterval(d time.Duration) error {
	if d < MinInterval || d > MaxInterval {
		return fmt.Errorf("%v is out of range (%s to %s)", d, fmtDuration(MinInterval), fmtDuration(MaxInterval))
	}
	return nil
}

// fmtDuration writes d without zero units ("1h", not "1h0m0s").
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// Ranges of the pricing factors a record may carry (and a guest may be
// configured with). A value outside is refused: the guest then prices with
// the next source of its resolution chain. They are generous bounds of
// what exists, there to keep every product finite, not judgements of a
// data center.
const (
	// MinPUE, MaxPUE: a PUE below 1 is impossible; the worst data centers
	// surveyed (Uptime Institute) stay under 3.
	MinPUE = 1.0
	MaxPUE = 3.0
	// MaxWUE in liters per kWh: reported WUEs lie around 0.2 to 2.5.
	MaxWUE = 10.0
	// MaxCarbonIntensity in gCO2e/kWh: no grid exceeds about 1,100
	// (lignite is about 1,200 alone).
	MaxCarbonIntensity = 2000.0
	// MaxEmbodiedGramsPerHour: a whole server's embodied emissions (a few
	// tonnes over a few years) are about 100 g per hour; a VM's share is
	// less.
	MaxEmbodiedGramsPerHour = 10000.0
)
