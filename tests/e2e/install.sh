#!/bin/bash
# Installs what the end-to-end suite (tests/e2e, build tag e2e) needs on a Debian 12 machine,
# as root: libvirtd + qemu (TCG is enough), busybox-static and cpio for the guest initramfs,
# Prometheus with promtool, and the Debian generic kernel package (downloaded and unpacked
# into the cache directory only, never installed into /boot).
#
# Idempotent and quiet: a second run with everything present does no apt work at all.
# Usage: tests/e2e/install.sh [CACHE_DIR]     (default: tests/.work/cache)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${1:-$here/../.work/cache}

pkgs=(pkg-config gcc libvirt-dev libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients
      qemu-system-x86 qemu-utils busybox-static cpio prometheus
      systemd)  # systemd-analyze verify and systemd-tmpfiles for tests/units
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || missing+=("$p")
done
export DEBIAN_FRONTEND=noninteractive
if [ ${#missing[@]} -gt 0 ]; then
  echo "install.sh: installing ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2> >(grep -v -e "^debconf: delaying package configuration" >&2)
fi

# Guest kernel: the generic flavour (linux-image-amd64 -> linux-image-6.1.0-NN-amd64), which has
# 9p and virtiofs as modules; the -cloud flavour has no 9p.
mkdir -p "$cache"
if [ ! -s "$cache/kernel/vmlinuz" ]; then
  kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  if [ -z "$kpkg" ]; then apt-get update -qq; kpkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}'); fi
  [ -n "$kpkg" ] || { echo "install.sh: cannot resolve linux-image-amd64 to a kernel package" >&2; exit 1; }
  kver=${kpkg#linux-image-}
  tmp=$(mktemp -d "$cache/kdl.XXXXXX"); chmod 0755 "$tmp"
  # apt-get download as root warns when _apt cannot write the cwd; download to a world-writable dir.
  chmod 1777 "$tmp"
  (cd "$tmp" && apt-get download -qq "$kpkg" 2>/dev/null) || (cd "$tmp" && apt-get download "$kpkg")
  dpkg -x "$tmp"/"$kpkg"_*.deb "$tmp/root"
  rm -rf "$cache/kernel"; mkdir -p "$cache/kernel"
  cp "$tmp/root/boot/vmlinuz-$kver" "$cache/kernel/vmlinuz"
  mkdir -p "$cache/kernel/modules"
  (cd "$tmp/root/lib/modules/$kver/kernel" && cp -r --parents \
     drivers/virtio net/9p fs/netfs fs/fscache fs/9p fs/fuse net/core/failover.ko \
     drivers/net/net_failover.ko drivers/net/virtio_net.ko "$cache/kernel/modules/")
  echo "$kver" > "$cache/kernel/version"
  rm -rf "$tmp"
  echo "install.sh: guest kernel $kver unpacked into $cache/kernel"
fi
