#!/usr/bin/env bash
# Side-by-side footprint of several virtwatt-guest binaries following ONE share written every
# second by a virtwatt-host --demo (fair before/after: same share, same load, same time).
#
#   git worktree add /tmp/wt-old HEAD~N && (cd /tmp/wt-old && CGO_ENABLED=0 go build -o /tmp/old-guest ./cmd/virtwatt-guest)
#   make build && DURATION=120 HOSTBIN=bin/virtwatt-host GUESTS="/tmp/old-guest:old bin/virtwatt-guest:new" scripts/guest-footprint-ab.sh
# side-by-side footprint: guests named in GUESTS (path:label ...) follow one demo host share concurrently
set -euo pipefail
DURATION=${DURATION:-120}
HOSTBIN=${HOSTBIN:-bin/virtwatt-host}
work=$(mktemp -d /tmp/virtwatt-fp.XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
$HOSTBIN --demo --share-root "$work/vms" --state-file "$work/state.json" --web.listen-address 127.0.0.1:0 2>"$work/host.log" &
host=$!; pids+=($host)
for _ in $(seq 50); do [ -f "$work/vms/demo-web/virtwatt.json" ] && break; sleep 0.1; done
port=28400; gp=(); gl=()
for g in $GUESTS; do
  bin=${g%%:*}; label=${g#*:}; port=$((port+1))
  $bin --share-dir "$work/vms/demo-web" --web.listen-address 127.0.0.1:$port --log.level warn ${EXTRA:-} 2>"$work/$label.log" &
  gp+=($!); gl+=("$label:$port"); pids+=($!)
done
sleep "$DURATION"
tck=$(getconf CLK_TCK)
for i in "${!gp[@]}"; do
  p=${gp[$i]}; label=${gl[$i]%%:*}; port=${gl[$i]#*:}
  read -r -a st < "/proc/$p/stat"
  rss=$(awk '/VmRSS/{print $2}' "/proc/$p/status"); hwm=$(awk '/VmHWM/{print $2}' "/proc/$p/status")
  up=$(curl -fsS 127.0.0.1:$port/metrics | awk '/^virtwatt_share_up/{print $2}')
  nproc=$(curl -fsS 127.0.0.1:$port/metrics | grep -c '^virtwatt_process_energy' || true)
  awk -v l="$label" -v u="${st[13]}" -v s="${st[14]}" -v t="$tck" -v d="$DURATION" -v r="$rss" -v h="$hwm" -v up="$up" -v n="$nproc" \
    'BEGIN{printf "%-10s CPU %.2fs over %ds = %.3f%% of a core (user %d sys %d ticks), RSS %d kB (peak %d), share_up %s, comm series %d\n", l,(u+s)/t,d,100*(u+s)/t/d,u,s,r,h,up,n}'
done
r=$(awk '/VmRSS/{print $2}' /proc/$host/status); echo "host RSS $r kB (demo, 3 VMs)"
