# End-to-end suite on real VMs (tests/e2e, build tag e2e): libvirtd + two TCG qemu
# guests (virtiofs and 9p) + virtwatt-host + virtwatt-guest + Prometheus. Needs root
# on a Debian 12 machine. Included from the top-level Makefile.
E2E_TIMEOUT ?= 10m

.PHONY: e2e e2e-deps e2e-vet
e2e-deps: ## install the e2e suite's packages and guest kernel (root; idempotent, quiet)
	tests/e2e/install.sh

e2e: e2e-deps ## run the end-to-end suite alone (about 1 min warm, 3 min from a cold Go cache; root)
	go test -tags e2e -count=1 -v -timeout $(E2E_TIMEOUT) ./tests/e2e/

e2e-vet: ## vet the e2e suite (its files carry the e2e build tag, so plain go vet skips them)
	go vet -tags e2e ./tests/e2e/
