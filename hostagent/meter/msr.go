package meter

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/virtwatt/virtwatt/internal/regfile"
)

// RAPL model-specific registers (Intel SDM vol. 4; AMD PPR for family 17h+).
const (
	msrIntelPowerUnit  = 0x606 // MSR_RAPL_POWER_UNIT
	msrIntelPkgEnergy  = 0x611 // MSR_PKG_ENERGY_STATUS
	msrIntelDRAMEnergy = 0x619 // MSR_DRAM_ENERGY_STATUS
	msrIntelPkgLimit   = 0x610 // MSR_PKG_POWER_LIMIT: PL1 bits 14:0, PL2 bits 46:32
	msrIntelPkgInfo    = 0x614 // MSR_PKG_POWER_INFO: thermal spec bits 14:0, max bits 46:32
	msrIntelDRAMLimit  = 0x618 // MSR_DRAM_POWER_LIMIT: bits 14:0
	msrIntelDRAMInfo   = 0x61C // MSR_DRAM_POWER_INFO: as PKG_POWER_INFO
	msrAMDPowerUnit    = 0xC0010299
	msrAMDPkgEnergy    = 0xC001029B

	// dramFixedESU is the DRAM energy status unit (2^-16 J ≈ 15.3 µJ) of the
	// Intel server parts listed in intelDRAMFixedUnit.
	dramFixedESU = 16
)

// Defaults for MSROptions; variables so that tests can point them at fakes.
var (
	defaultMSRRoot     = "/dev/cpu"
	defaultCPUInfoPath = "/proc/cpuinfo"
	defaultSysCPURoot  = "/sys/devices/system/cpu"
)

// MSROptions configures an MSR meter. Empty fields take the defaults shown.
type MSROptions struct {
	Root        string // per-CPU MSR files <Root>/N/msr; default /dev/cpu
	Vendor      string // VendorIntel, VendorAMD, or "" to detect
	CPUInfoPath string // vendor and model for detection and the DRAM unit; default /proc/cpuinfo
	SysCPURoot  string // <SysCPURoot>/cpuN/topology/physical_package_id; default /sys/devices/system/cpu
}

// MSR reads RAPL energy counters straight from the model-specific registers
// through the msr driver (/dev/cpu/N/msr, pread at offset = register), one
// CPU per physical package. Use it on kernels without the powercap driver.
//
// Intel: package (0x611) and, where the counter is non-zero, dram (0x619).
// AMD and Hygon: package (0xC001029B); AMD has no dram counter.
//
// The counters are 32 bits in units of 1/2^ESU J, ESU being bits 12:8 of the
// unit register (0x606 or 0xC0010299). A Reading reports
//
//	EnergyUJ   = floor(raw × 10^6 / 2^ESU)
//	MaxRangeUJ = 2^32 × 10^6 / 2^ESU       (exact: an integer for ESU ≤ 32)
//
// so a Tracker's wrap correction (cur + MaxRangeUJ − prev) is exact in raw
// units, and the sum of every delta since the baseline telescopes to
// floor(raw_now·u) − floor(raw_0·u) + wraps·MaxRangeUJ: the truncation error
// never accumulates and stays below 1 µJ in total.
//
// The files stay open between reads; call Close when done. An MSR is not safe
// for concurrent use. The counters wrap within minutes at high power (about
// 60 s at 4 kW with ESU 14): sample well inside that.
type MSR struct {
	vendor  string
	sockets []msrSocket
}

type msrSocket struct {
	socket   int
	f        *os.File
	pkgReg   int64
	pkgESU   uint
	pkgPath  string
	pkgCeil  uint64 // µW; 0: the default
	hasDRAM  bool
	dramCeil uint64
	dramESU  uint
	dramReg  int64
	dramPth  string
}

// NewMSR opens the MSR files under root (default /dev/cpu when empty) and
// detects the vendor.
func NewMSR(root string) (*MSR, error) {
	return NewMSRWithOptions(MSROptions{Root: root})
}

// NewMSRWithOptions opens one MSR file per physical package and finds the
// RAPL registers. With no explicit vendor, /proc/cpuinfo's vendor_id picks
// which registers to try first and the other vendor's are tried next; a
// vendor counts as present when its unit register is non-zero and its
// package counter is readable.
func NewMSRWithOptions(o MSROptions) (*MSR, error) {
	if o.Root == "" {
		o.Root = defaultMSRRoot
	}
	if o.CPUInfoPath == "" {
		o.CPUInfoPath = defaultCPUInfoPath
	}
	if o.SysCPURoot == "" {
		o.SysCPURoot = defaultSysCPURoot
	}
	switch o.Vendor {
	case "", VendorIntel, VendorAMD:
	default:
		return nil, fmt.Errorf("msr: unknown vendor %q (want %q, %q or empty to detect)", o.Vendor, VendorIntel, VendorAMD)
	}
	id, _ := readCPUInfo(o.CPUInfoPath) // absent cpuinfo: probe both vendors

	m := &MSR{}
	for _, sc := range packageCPUs(o.SysCPURoot) {
		path := filepath.Join(o.Root, strconv.Itoa(sc.cpu), "msr")
		f, err := openMSR(path)
		if err != nil {
			m.Close()
			return nil, msrOpenError(err)
		}
		m.sockets = append(m.sockets, msrSocket{socket: sc.socket, f: f})
	}

	candidates := []string{VendorIntel, VendorAMD}
	switch {
	case o.Vendor != "":
		candidates = []string{o.Vendor}
	case id.vendor == VendorAMD:
		candidates = []string{VendorAMD, VendorIntel}
	}
	var errs []error
	for _, v := range candidates {
		err := m.setup(v, id)
		if err == nil {
			m.vendor = v
			return m, nil
		}
		errs = append(errs, err)
	}
	m.Close()
	return nil, fmt.Errorf("msr: no RAPL energy registers under %s (RAPL needs Intel Sandy Bridge or later, "+
		"AMD family 17h or later, or Hygon; virtual machines normally see none): %w", o.Root, errors.Join(errs...))
}

// setup configures every socket for vendor v, or says why it cannot.
func (m *MSR) setup(v string, id cpuID) error {
	unitReg, pkgReg := int64(msrIntelPowerUnit), int64(msrIntelPkgEnergy)
	if v == VendorAMD {
		unitReg, pkgReg = msrAMDPowerUnit, msrAMDPkgEnergy
	}
	for i := range m.sockets {
		s := &m.sockets[i]
		name := s.f.Name()
		unit, err := readMSR(s.f, unitReg)
		if err != nil {
			return fmt.Errorf("%s: %s unit register %#x: %w", name, v, unitReg, err)
		}
		esu := uint(unit>>8) & 0x1f
		if esu == 0 {
			return fmt.Errorf("%s: %s unit register %#x reads %#x: no energy unit", name, v, unitReg, unit)
		}
		if _, err := readMSR(s.f, pkgReg); err != nil {
			return fmt.Errorf("%s: %s package energy register %#x: %w", name, v, pkgReg, err)
		}
		*s = msrSocket{
			socket: s.socket, f: s.f,
			pkgReg: pkgReg, pkgESU: esu, pkgPath: fmt.Sprintf("%s@%#x", name, pkgReg),
		}
		if v == VendorIntel {
			pu := uint(unit) & 0xf // power unit: 1/2^PU W
			s.pkgCeil = ceilingFromLimits(statedPowerUW(s.f, pu, msrIntelPkgInfo, msrIntelPkgLimit))
			s.dramCeil = ceilingFromLimits(statedPowerUW(s.f, pu, msrIntelDRAMInfo, msrIntelDRAMLimit))
			// Like Linux, a zero counter means the domain is absent.
			if raw, err := readMSR(s.f, msrIntelDRAMEnergy); err == nil && raw&0xffffffff != 0 {
				s.hasDRAM = true
				s.dramReg = msrIntelDRAMEnergy
				s.dramPth = fmt.Sprintf("%s@%#x", name, int64(msrIntelDRAMEnergy))
				s.dramESU = esu
				if intelDRAMFixedUnit(id) {
					s.dramESU = dramFixedESU
				}
			}
		}
	}
	return nil
}

// Name implements Meter.
func (m *MSR) Name() string { return "msr" }

// Read implements Meter: per socket, package then dram where present.
func (m *MSR) Read() ([]Reading, error) {
	rs := make([]Reading, 0, 2*len(m.sockets))
	for _, s := range m.sockets {
		raw, err := readMSR(s.f, s.pkgReg)
		if err != nil {
			return nil, fmt.Errorf("msr: read %s: %w", s.pkgPath, err)
		}
		rs = append(rs, msrReading(KindPackage, s.socket, s.pkgPath, raw, s.pkgESU, s.pkgCeil))
		if s.hasDRAM {
			raw, err := readMSR(s.f, s.dramReg)
			if err != nil {
				return nil, fmt.Errorf("msr: read %s: %w", s.dramPth, err)
			}
			rs = append(rs, msrReading(KindDRAM, s.socket, s.dramPth, raw, s.dramESU, s.dramCeil))
		}
	}
	return rs, nil
}

// Close closes the MSR files.
func (m *MSR) Close() error {
	var errs []error
	for _, s := range m.sockets {
		if s.f != nil {
			errs = append(errs, s.f.Close())
		}
	}
	m.sockets = nil
	return errors.Join(errs...)
}

// msrReading converts a raw energy status value (bits 31:0 used) to µJ.
func msrReading(kind string, socket int, path string, raw uint64, esu uint, ceilUW uint64) Reading {
	return Reading{
		Kind:       kind,
		Socket:     socket,
		Path:       path,
		EnergyUJ:   rawToUJ(raw&0xffffffff, esu),
		MaxRangeUJ: rangeUJ(esu),
		CeilingUW:  ceilUW,
	}
}

// statedPowerUW is the largest power, in µW, stated by the POWER_INFO
// register info (thermal spec bits 14:0, maximum bits 46:32) and the
// POWER_LIMIT register limit (first limit bits 14:0, second bits 46:32), in
// units of 1/2^pu W; 0 when none is readable or all are 0 (AMD has neither
// register, some Intel parts leave them 0).
func statedPowerUW(f *os.File, pu uint, info, limit int64) uint64 {
	var top uint64
	for _, reg := range []int64{info, limit} {
		v, err := readMSR(f, reg)
		if err != nil {
			continue
		}
		top = max(top, v&0x7fff, (v>>32)&0x7fff)
	}
	// top < 2^15, so top × 10^6 fits easily.
	return top * 1_000_000 >> pu
}

// openMSR opens an msr file without blocking: the msr driver's files are
// character devices (regular files in tests); a FIFO or anything else
// planted under the root is refused rather than waited on.
func openMSR(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if m := fi.Mode(); !m.IsRegular() && m&fs.ModeCharDevice == 0 {
		f.Close()
		return nil, fmt.Errorf("%s: %w: it is a %s, not the msr driver's character device", path, regfile.ErrNotRegular, regfile.Kind(m))
	}
	return f, nil
}

// rawToUJ is floor(raw × 10^6 / 2^esu). raw < 2^32, so the product fits.
func rawToUJ(raw uint64, esu uint) uint64 { return raw * 1_000_000 >> esu }

// rangeUJ is 2^32 × 10^6 / 2^esu, exact for esu ≤ 32.
func rangeUJ(esu uint) uint64 { return 1_000_000 << (32 - esu) }

// readMSR reads the 64-bit register reg with pread. A short read (past the
// end of a fake file) counts as an absent register.
func readMSR(f *os.File, reg int64) (uint64, error) {
	var b [8]byte
	n, err := f.ReadAt(b[:], reg)
	if n != len(b) {
		if err == nil {
			err = errors.New("short read")
		}
		return 0, err
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

// msrOpenError explains why an MSR file cannot be opened.
func msrOpenError(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("msr: %w; load the msr driver with `modprobe msr`", err)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("msr: %w; reading MSRs needs root (CAP_SYS_RAWIO): run virtwatt-host as root", err)
	}
	return fmt.Errorf("msr: %w", err)
}
