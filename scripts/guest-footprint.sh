#!/usr/bin/env bash
# Whole-process footprint of virtwatt-guest at its default poll interval:
# CPU time (user+system) and RSS after DURATION seconds (default 600),
# following a share written every second by virtwatt-host --demo.
#
#   scripts/guest-footprint.sh            # 10 minutes
#   DURATION=60 scripts/guest-footprint.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
DURATION=${DURATION:-600}
make -s build
work=$(mktemp -d /tmp/virtwatt-footprint.XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
bin/virtwatt-host --demo --share-root "$work/vms" --state-file "$work/state.json" --web.listen-address 127.0.0.1:0 2>"$work/host.log" &
pids+=($!)
for _ in $(seq 50); do [ -f "$work/vms/demo-web/virtwatt.json" ] && break; sleep 0.1; done
bin/virtwatt-guest --share-dir "$work/vms/demo-web" --web.listen-address 127.0.0.1:28389 --log.level warn 2>"$work/guest.log" &
guest=$!
pids+=($guest)
for i in $(seq "$DURATION"); do
  [ $((i % 60)) -eq 0 ] && echo "   $i/$DURATION s"
  sleep 1
done
tck=$(getconf CLK_TCK)
read -r -a st < "/proc/$guest/stat"
cpu=$(awk -v u="${st[13]}" -v s="${st[14]}" -v t="$tck" 'BEGIN{printf "%.2f", (u+s)/t}')
rss=$(awk '/VmRSS/{print $2}' "/proc/$guest/status")
hwm=$(awk '/VmHWM/{print $2}' "/proc/$guest/status")
up=$(curl -fsS 127.0.0.1:28389/metrics | awk '/^virtwatt_share_up/{print $2}')
echo "virtwatt-guest over ${DURATION}s at the default 1s poll: CPU ${cpu}s (user ${st[13]} + system ${st[14]} ticks at ${tck}/s), RSS ${rss} kB (peak ${hwm} kB), share_up ${up}"
