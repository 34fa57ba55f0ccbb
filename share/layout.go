package share

// On-disk layout of one VM's share directory (<share-root>/<domain-name>/):
//
//	virtwatt.json                          Record (JSON)
//	intel-rapl:0/name                      "package-0"
//	intel-rapl:0/energy_uj                 package µJ, cumulative, wrapped at max range
//	intel-rapl:0/max_energy_range_uj       TreeMaxRangeUJ
//	intel-rapl:0:0/                        present, may be empty (core)
//	intel-rapl:0:1/{name,energy_uj,max_energy_range_uj}   "dram", when dram is measured
//
// This is the shape powercap has under /sys/class/powercap, so tools that
// read RAPL (Scaphandre's --vm mode among them) work unchanged in the guest.
const (
	RecordFile      = "virtwatt.json"
	PackageZoneDir  = "intel-rapl:0"
	CoreZoneDir     = "intel-rapl:0:0"
	DRAMZoneDir     = "intel-rapl:0:1"
	NameFile        = "name"
	EnergyFile      = "energy_uj"
	MaxRangeFile    = "max_energy_range_uj"
	PackageZoneName = "package-0"
	DRAMZoneName    = "dram"
	MaxFileSize     = 64 << 10     // a reader rejects any share file larger than this
	TreeMaxRangeUJ  = 262143328850 // the value real Intel packages report
)
