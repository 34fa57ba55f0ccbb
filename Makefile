# virtwatt — build and test targets. `make test` is what CI runs (.ci/run).
GO       ?= go
BIN      ?= bin
VERSION  ?= $(shell git describe --tags --always 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)
BRANCH   ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null)
BUILD_DATE ?= $(shell date -u -d @$${SOURCE_DATE_EPOCH:-$$(date +%s)} +%Y%m%d-%H:%M:%S)
# --version and virtwatt_build_info read github.com/prometheus/common/version;
# main.version is the old name, still honoured.
VERSION_PKG := github.com/prometheus/common/version
LDFLAGS  := -s -w -X main.version=$(VERSION) -X $(VERSION_PKG).Version=$(VERSION) -X $(VERSION_PKG).Revision=$(REVISION) \
	-X $(VERSION_PKG).Branch=$(BRANCH) -X $(VERSION_PKG).BuildDate=$(BUILD_DATE)

.PHONY: all deps build test unit fuzz vet e2e demo clean packages units bench

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/virtwatt-host ./cmd/virtwatt-host
	CGO_ENABLED=0 $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/virtwatt-guest ./cmd/virtwatt-guest

vet:
	$(GO) vet ./...
	$(GO) vet -tags e2e ./tests/e2e/
	$(GO) -C packaging vet ./...
	test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)

unit:
	$(GO) test -race -count=1 ./...
	$(GO) -C packaging test -count=1 ./...

# The systemd units and the tmpfiles.d snippet under systemd-analyze verify (part of make unit too).
units:
	$(GO) test -count=1 -v ./tests/units/

# .deb packages of both agents into bin/packages (nfpm as a library, in its own module packaging/;
# tests/packages builds, inspects, installs and purges them as part of make unit).
packages: build
	$(GO) -C packaging run ./cmd/mkdeb --bin $(abspath $(BIN)) --version '$(VERSION)' --out $(abspath $(BIN))/packages

# A short run of each fuzz target on top of its committed seed corpus.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParseRecord$$' -fuzztime 20s ./share/
	$(GO) test -run '^$$' -fuzz '^FuzzReadTree$$' -fuzztime 10s ./share/
	$(GO) test -run '^$$' -fuzz '^FuzzAccount$$' -fuzztime 10s -fuzzminimizetime 200x ./guestagent/account/
	$(GO) test -run '^$$' -fuzz '^FuzzLoadState$$' -fuzztime 10s ./hostagent/state/
	$(GO) test -run '^$$' -fuzz '^FuzzParseConfig$$' -fuzztime 10s ./hostagent/

# What the tests need on Debian 12 (root; idempotent, quick when all is there):
# libvirt-dev for the host agent's binding, promtool, libvirtd + qemu, a guest kernel.
deps:
	tests/e2e/install.sh

# The whole test suite: static checks, unit tests, fuzzing, the real-VM end-to-end suite.
test: deps vet build unit fuzz e2e

# The host tick against its syscall floor, tick by tick in ABBA order (hostagent's BenchmarkABBA,
# internal/benchfloor), at BENCH_VMS VMs on tmpfs and on the checkout's file system. Not part of test.
#   make bench BENCH_VMS="100 1000 10000"   BENCH_TICKS=40   BENCH_DIRS="/dev/shm $(CURDIR)/.bench"
# 10,000 VMs on ext4 take several seconds a tick: BENCH_TICKS=10. Where the agent's and the floor's
# 3 directories per VM do not both fit under RLIMIT_NOFILE, each holds half of it (the line says so).
BENCH_VMS   ?= 1000
BENCH_TICKS ?= 40
BENCH_DIRS  ?= /dev/shm $(CURDIR)/.bench
bench:
	@for d in $(BENCH_DIRS); do for n in $(BENCH_VMS); do \
	  out=$$(VIRTWATT_BENCH_VMS=$$n VIRTWATT_BENCH_DIR=$$d VIRTWATT_BENCH_TICKS=$(BENCH_TICKS) \
	    $(GO) test -run '^$$' -bench '^BenchmarkABBA$$' -benchtime 1x -count 1 ./hostagent/ 2>&1) || { echo "$$out"; exit 1; }; \
	  echo "$$out" | grep '^ABBA'; \
	done; done

demo: build
	$(BIN)/virtwatt-host --demo

clean:
	rm -rf $(BIN)

-include tests/e2e/e2e.mk
