#!/usr/bin/env bash
# Side-by-side footprint of several virtwatt-guest binaries following ONE share written every
# second by a virtwatt-host --demo (fair before/after: same share, same load, same time).
#
#   git worktree add /tmp/wt-old HEAD~N && (cd /tmp/wt-old && CGO_ENABLED=0 go build -o /tmp/old-guest ./cmd/virtwatt-guest)
#   go build -o /tmp/guestfloor ./tests/bench/guestfloor      # the floor: reads the record once a second, nothing else
#   make build && DURATION=120 HOSTBIN=bin/virtwatt-host \
#     GUESTS="/tmp/old-guest:old bin/virtwatt-guest:new /tmp/guestfloor:floor" scripts/guest-footprint-ab.sh
#
# Each guest runs with --share-dir, --web.listen-address, --log.level warn and EXTRA (default
# "--top-processes 10 --poll-interval 1s": the per-process split on, a 1 s poll). CPU is counted
# over DURATION seconds after WARMUP (default 5) seconds, two ways: user+system clock ticks of
# /proc/PID/stat (1/CLK_TCK s each: ±0.0083 % of a core over 120 s at CLK_TCK 100), and the
# nanoseconds on CPU of every thread in /proc/PID/task/*/schedstat (threads that exit in the
# window are missed; Go's rarely do). Shares on FOOTPRINT_DIR (default /dev/shm, a tmpfs as /run).
set -euo pipefail
DURATION=${DURATION:-120}
WARMUP=${WARMUP:-5}
HOSTBIN=${HOSTBIN:-bin/virtwatt-host}
EXTRA=${EXTRA:---top-processes 10 --poll-interval 1s}
work=$(mktemp -d "${FOOTPRINT_DIR:-/dev/shm}/virtwatt-fp.XXXXXX")
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"' EXIT
$HOSTBIN --demo --share-root "$work/vms" --state-file "$work/state.json" --web.listen-address 127.0.0.1:0 2>"$work/host.log" &
host=$!; pids+=($host)
for _ in $(seq 50); do [ -f "$work/vms/demo-web/virtwatt.json" ] && break; sleep 0.1; done
port=28400; gp=(); gl=()
for g in $GUESTS; do
  bin=${g%%:*}; label=${g#*:}; port=$((port+1))
  # shellcheck disable=SC2086 # EXTRA is a list of flags
  $bin --share-dir "$work/vms/demo-web" --web.listen-address 127.0.0.1:$port --log.level warn $EXTRA 2>"$work/$label.log" &
  gp+=($!); gl+=("$label:$port"); pids+=($!)
done
tck=$(getconf CLK_TCK)
# ticks PID: user+system clock ticks so far (fields after the command name, which may hold spaces).
ticks() { local st; read -r -a st <<<"$(sed 's/^.*) //' "/proc/$1/stat")"; echo $((st[11] + st[12])); }
# oncpu PID: nanoseconds on CPU of its threads alive now.
oncpu() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s+=$1} END{printf "%d", s}'; }
sleep "$WARMUP"
t0=(); n0=()
for p in "${gp[@]}"; do t0+=("$(ticks "$p")"); n0+=("$(oncpu "$p")"); done
sleep "$DURATION"
echo "over ${DURATION}s after ${WARMUP}s warm-up, EXTRA=\"$EXTRA\", CLK_TCK $tck, share on $work"
for i in "${!gp[@]}"; do
  p=${gp[$i]}; label=${gl[$i]%%:*}; port=${gl[$i]#*:}
  dt=$(( $(ticks "$p") - ${t0[$i]} )); dn=$(( $(oncpu "$p") - ${n0[$i]} ))
  rss=$(awk '/VmRSS/{print $2}' "/proc/$p/status"); hwm=$(awk '/VmHWM/{print $2}' "/proc/$p/status")
  m=$(curl -fsS "127.0.0.1:$port/metrics" 2>/dev/null || true)
  up=$(awk '/^virtwatt_share_up/{print $2}' <<<"$m"); nproc=$(grep -c '^virtwatt_process_energy' <<<"$m" || true)
  awk -v l="$label" -v dt="$dt" -v dn="$dn" -v t="$tck" -v d="$DURATION" -v r="$rss" -v h="$hwm" -v up="${up:--}" -v n="$nproc" \
    'BEGIN{printf "%-10s CPU %.3f%% of a core (%d ticks), on-CPU %.4f%% (%.1f ms), RSS %d kB (peak %d), share_up %s, process series %d\n", l,100*dt/t/d,dt,100*dn/1e9/d,dn/1e6,r,h,up,n}'
done
r=$(awk '/VmRSS/{print $2}' /proc/$host/status); echo "host RSS $r kB (demo, 3 VMs)"
