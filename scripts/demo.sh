#!/usr/bin/env bash
# Installs what virtwatt needs to build, builds both agents, and runs the
# whole pipeline on a simulated hypervisor: virtwatt-host --demo (simulated
# RAPL meter and three VMs, real split, real share directories, real
# metrics) and virtwatt-guest reading one VM's share as it would inside
# that VM. Prints what each side exports, then stops both.
#
#   scripts/demo.sh                 # about 20 s on a fresh Debian 12 machine (root, sudo, or it says what to run)
#   DURATION=60 scripts/demo.sh     # watch longer
set -euo pipefail
cd "$(dirname "$0")/.."
VIRTWATT_ROOT=$PWD
. scripts/lib.sh
DURATION=${DURATION:-12}
HOST_ADDR=${HOST_ADDR:-127.0.0.1:28380}
GUEST_ADDR=${GUEST_ADDR:-127.0.0.1:28381}

if ! pkg-config --exists libvirt 2>/dev/null; then
  echo "== installing libvirt-dev (the host agent's libvirt binding needs it to build)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libvirt-dev pkg-config gcc make curl unzip ca-certificates >/dev/null
fi
ensure_go   # go.mod's Go: the one on PATH or in /usr/local/go when new enough, else from the module proxy
echo "== building bin/virtwatt-host and bin/virtwatt-guest (static)"
make -s build

work=$(mktemp -d /tmp/virtwatt-demo.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

echo "== starting virtwatt-host --demo (shares under $work/vms)"
bin/virtwatt-host --demo --share-root "$work/vms" --state-file "$work/state.json" \
  --web.listen-address "$HOST_ADDR" --pue 1.2 --carbon-intensity 56 --carbon-intensity-source "demo: France 2023" \
  2>"$work/host.log" &
pids+=($!)
for _ in $(seq 50); do [ -f "$work/vms/demo-web/virtwatt.json" ] && break; sleep 0.1; done

echo "== starting virtwatt-guest on demo-web's share (as inside that VM)"
bin/virtwatt-guest --share-dir "$work/vms/demo-web" --web.listen-address "$GUEST_ADDR" --poll-interval 1s \
  --jsonl "$work/guest.jsonl" 2>"$work/guest.log" &
pids+=($!)

for i in $(seq "$DURATION"); do printf '\r   running %2d/%d s' "$i" "$DURATION"; sleep 1; done; echo

echo "== the share, as the guest sees it"
ls -R "$work/vms/demo-web" | sed 's/^/   /'
echo "   intel-rapl:0/energy_uj = $(cat "$work/vms/demo-web/intel-rapl:0/energy_uj")"
echo "== host endpoint http://$HOST_ADDR/metrics (excerpt)"
curl -fsS "http://$HOST_ADDR/metrics" | grep -E '^virtwatt_(host_power|domain_power|host_unattributed)' | sed 's/^/   /'
echo "== guest endpoint http://$GUEST_ADDR/metrics (excerpt)"
curl -fsS "http://$GUEST_ADDR/metrics" | grep -E '^virtwatt_(vm_|share_up|carbon|pue)' | sed 's/^/   /'
echo "== one split, as --once prints it"
bin/virtwatt-host --demo --once 2>/dev/null | sed 's/^/   /'
echo "== logs: $work/host.log $work/guest.log; JSON lines: $work/guest.jsonl"
