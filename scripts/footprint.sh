#!/usr/bin/env bash
# Whole-process footprint of both agents: RSS (now and peak) and CPU
# (user+system, as % of one core) over DURATION seconds (default 60), after
# WARMUP seconds (default 5) that are not counted:
#   1. virtwatt-host --demo (3 VMs), and virtwatt-guest following demo-web at
#      its default 1 s poll with the per-process split on (--top-processes 10);
#   2. virtwatt-host --demo --demo.vms VMS (default 1000), alone.
# Shares and state go under FOOTPRINT_DIR (default /dev/shm: a tmpfs, as /run).
#
#   scripts/footprint.sh
#   DURATION=600 VMS=10000 scripts/footprint.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
DURATION=${DURATION:-60}
WARMUP=${WARMUP:-5}
VMS=${VMS:-1000}
GUEST_PORT=${GUEST_PORT:-28391}
make -s build
work=$(mktemp -d "${FOOTPRINT_DIR:-/dev/shm}/virtwatt-footprint.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
tck=$(getconf CLK_TCK)

# cpu_ticks PID: user+system clock ticks of PID so far.
cpu_ticks() {
  local st
  # The fields after the command name (which may hold spaces): utime is
  # field 14 of the line, 12th of these.
  read -r -a st <<<"$(sed 's/^.*) //' "/proc/$1/stat")"
  echo $((st[11] + st[12]))
}

# host NAME VMS: starts virtwatt-host --demo with VMS VMs in $work/NAME,
# sets hpid and waits for its last share.
host() {
  local dir=$work/$1 last
  mkdir -p "$dir"
  bin/virtwatt-host --demo --demo.vms "$2" --share-root "$dir/vms" --state-file "$dir/state.json" \
    --web.listen-address 127.0.0.1:0 --log.level warn >/dev/null 2>"$dir/host.log" &
  hpid=$!
  pids+=("$hpid")
  if [ "$2" -le 3 ]; then last=demo-web; else last=$(printf 'demo-vm-%04d' "$2"); fi
  for _ in $(seq 300); do [ -f "$dir/vms/$last/virtwatt.json" ] && return; sleep 0.1; done
  echo "virtwatt-host --demo.vms $2 wrote no $dir/vms/$last/virtwatt.json in 30 s; its log:" >&2
  cat "$dir/host.log" >&2
  return 1
}

# breakdown PID: where its RSS is: anonymous memory (heap, stacks, written
# data), and the file pages mapped of its executable and of shared
# libraries (with their PSS: shared with libvirtd and others).
breakdown() {
  local exe
  exe=$(readlink "/proc/$1/exe")
  awk -v exe="$exe" '
    /^[0-9a-f]+-[0-9a-f]+ /{ path=""; for (i = 6; i <= NF; i++) path = path (i > 6 ? " " : "") $i
      kind = path == exe ? "exe" : path ~ /\.so/ ? "lib" : path == "" || path ~ /^\[/ ? "anon" : "other"; next }
    /^Rss:/{ rss[kind] += $2 } /^Pss:/{ pss[kind] += $2 } /^Anonymous:/{ an += $2; rss[kind] -= $2 }
    END{ printf "%45s anonymous %.1f MB, executable %.1f MB, libraries %.1f MB (PSS %.1f), other files %.1f MB\n",
      "", an/1024, rss["exe"]/1024, rss["lib"]/1024, pss["lib"]/1024, rss["other"]/1024 }' "/proc/$1/smaps"
}

# measure LABEL PID...: samples each PID's CPU ticks, sleeps DURATION, and
# prints one line per PID.
measure() {
  local label=$1; shift
  local -a t0=() p
  sleep "$WARMUP"
  for p in "$@"; do t0+=("$(cpu_ticks "$p")"); done
  sleep "$DURATION"
  local i=0
  for p in "$@"; do
    local t1 name rss hwm
    t1=$(cpu_ticks "$p")
    name=$(cat "/proc/$p/comm")
    rss=$(awk '/^VmRSS/{print $2}' "/proc/$p/status")
    hwm=$(awk '/^VmHWM/{print $2}' "/proc/$p/status")
    awk -v l="$label" -v n="$name" -v d="$((t1 - ${t0[$i]}))" -v t="$tck" -v s="$DURATION" -v r="$rss" -v h="$hwm" \
      'BEGIN{printf "%-28s %-15s CPU %6.3f %% of a core (%.2f s in %d s)  RSS %6.1f MB (peak %.1f MB)\n", l, n, 100*d/t/s, d/t, s, r/1024, h/1024}'
    breakdown "$p"
    i=$((i + 1))
  done
}

echo "footprint over ${DURATION}s (after ${WARMUP}s warm-up), shares on $work"
host small 3
bin/virtwatt-guest --share-dir "$work/small/vms/demo-web" --poll-interval 1s --top-processes 10 \
  --web.listen-address "127.0.0.1:$GUEST_PORT" --log.level warn 2>"$work/guest.log" &
gpid=$!
pids+=("$gpid")
measure "host --demo (3 VMs) + guest" "$hpid" "$gpid"
if command -v curl >/dev/null; then
  up=$(curl -fsS "127.0.0.1:$GUEST_PORT/metrics" | awk '/^virtwatt_share_up/{print $2}')
  procs=$(curl -fsS "127.0.0.1:$GUEST_PORT/metrics" | grep -c '^virtwatt_process_power_watts' || true)
  echo "guest: share_up ${up:-?}, ${procs} virtwatt_process_power_watts series"
fi
kill "$hpid" "$gpid"
wait "$hpid" "$gpid" 2>/dev/null || true

host large "$VMS"
measure "host --demo.vms $VMS" "$hpid"
