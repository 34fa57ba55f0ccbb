# End-to-end suite on real VMs (tests/e2e, build tag e2e): libvirtd + two TCG qemu
# guests (virtiofs and 9p) + virtwatt-host + virtwatt-guest + Prometheus. Needs root.
# Included from the top-level Makefile.
E2E_TIMEOUT ?= 10m

.PHONY: e2e e2e-deps
e2e-deps: ## install the e2e suite's packages and guest kernel (Debian 12, root; idempotent)
	tests/e2e/install.sh

e2e: e2e-deps ## run the end-to-end suite alone (about 2-3 minutes; root)
	go test -tags e2e -count=1 -v -timeout $(E2E_TIMEOUT) ./tests/e2e/
