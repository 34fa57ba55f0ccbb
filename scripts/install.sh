#!/usr/bin/env bash
# Builds virtwatt from this checkout into .deb packages and installs one, on
# Debian 12, as root or through sudo; without either it prints the exact
# command to run as root. Installs Go (go.mod's version) when it is missing.
# Enables and starts nothing: it prints the next steps.
#
#   scripts/install.sh host    # on the hypervisor: virtwatt-host
#   scripts/install.sh guest   # in a VM (Debian-like): virtwatt-guest
#   scripts/install.sh debs    # only build bin/packages/*.deb (copy the guest's into each VM)
set -euo pipefail
cd "$(dirname "$0")/.."
VIRTWATT_ROOT=$PWD
. scripts/lib.sh

what=${1:-host}
case "$what" in
  host|guest|debs) ;;
  *) echo "usage: $0 host|guest|debs" >&2; exit 2 ;;
esac

# Build dependencies: libvirt-dev and gcc for the host agent's cgo binding.
pkgs=(make git gcc pkg-config libvirt-dev ca-certificates curl unzip)
[ "$what" = guest ] && pkgs=(make git ca-certificates curl unzip)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing build dependencies: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

ensure_go
echo "== building with $(go version)"
version=$(git describe --tags --always 2>/dev/null || echo dev)
rm -f bin/packages/*.deb   # only this build's packages below
if [ "$what" = guest ]; then
  mkdir -p bin
  CGO_ENABLED=0 go build -ldflags "-s -w -X main.version=$version -X github.com/prometheus/common/version.Version=$version" -o bin/virtwatt-guest ./cmd/virtwatt-guest
  go -C packaging run ./cmd/mkdeb --bin "$PWD/bin" --version "$version" --out "$PWD/bin/packages" --packages virtwatt-guest >/dev/null
else
  make -s packages VERSION="$version" >/dev/null
fi
ls bin/packages/*.deb | sed 's/^/   /'

install_deb() { # the newest build of package $1; apt resolves its dependencies
  local deb
  deb=$(ls "bin/packages/$1"_*.deb)
  echo "== installing $deb"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$PWD/$deb" >/dev/null
  echo "   $("/usr/bin/$1" --version | head -n 1)"
}

case "$what" in
  host)
    install_deb virtwatt-host
    cat <<'NEXT'
== next, as root (nothing was enabled):
   systemctl enable --now virtwatt-host      # config: /etc/virtwatt/host.toml
   virtwatt-host attach --all                # gives every VM its read-only share
   virtwatt-host doctor                      # what works, and the fix for what does not
   # each VM: install bin/packages/virtwatt-guest_*.deb (or copy bin/virtwatt-guest), then
   #   systemctl enable --now mnt-virtwatt.mount virtwatt-guest; virtwatt-guest status
NEXT
    ;;
  guest)
    install_deb virtwatt-guest
    cat <<'NEXT'
== next, as root (nothing was enabled):
   systemctl enable --now mnt-virtwatt.mount virtwatt-guest   # 9p; for virtiofs: systemctl edit mnt-virtwatt.mount
   virtwatt-guest status                                      # share found, read-only, fresh; power now
NEXT
    ;;
  debs) echo "== copy bin/packages/virtwatt-guest_*.deb into each VM: apt-get install ./virtwatt-guest_*.deb" ;;
esac
