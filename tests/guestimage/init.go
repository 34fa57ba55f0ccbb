package guestimage

import "strings"

// InitScript returns the guest's /init: load modules, mount the share
// read-only at /mnt/virtwatt (or, with vw.mount=agent, leave that to the
// agent and report the mount it made), bring up the slirp NIC, optionally start a
// busy loop, then run prog (restarting it if it exits) with args plus the
// comma-separated vw.args from the kernel command line.
func InitScript(prog string, args []string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.NewReplacer("@PROG@", prog, "@ARGS@", strings.Join(quoted, " ")).Replace(initTemplate)
}

const initTemplate = `#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
for m in $(cat /lib/modules/order); do insmod /lib/modules/$m || echo "VW-INSMOD-FAIL $m"; done
FS=9p; TAG=virtwatt; BUSY=0; EXTRA=""; MOUNT=""
for x in $(cat /proc/cmdline); do
  case "$x" in
    vw.fs=*) FS=${x#vw.fs=} ;;
    vw.tag=*) TAG=${x#vw.tag=} ;;
    vw.busy=*) BUSY=${x#vw.busy=} ;;
    vw.mount=*) MOUNT=${x#vw.mount=} ;;
    vw.args=*) EXTRA=$(echo "${x#vw.args=}" | tr ',' ' ') ;;
  esac
done
# vw.mount=agent: no mount here; the agent finds the virtio share tagged
# "virtwatt" and mounts it itself (the default for 9p with that tag).
if [ -z "$MOUNT" ]; then
  MOUNT=init
  [ "$FS" = 9p ] && [ "$TAG" = virtwatt ] && MOUNT=agent
fi
if [ "$MOUNT" = init ]; then
  case "$FS" in
    9p) mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,ro "$TAG" /mnt/virtwatt ;;
    virtiofs) mount -t virtiofs -o ro "$TAG" /mnt/virtwatt ;;
    *) false ;;
  esac && echo "VW-MOUNT-OK $FS $(grep ' /mnt/virtwatt ' /proc/mounts)" || echo "VW-MOUNT-FAIL $FS"
fi
ip link set lo up
if ip link set eth0 up 2>/dev/null; then
  ip addr add 10.0.2.15/24 dev eth0
  ip route add default via 10.0.2.2
  echo "VW-NET-UP"
fi
if [ "$BUSY" = 1 ]; then
  sh -c 'while :; do :; done' &
  renice -n 19 -p $! >/dev/null
  echo "VW-BUSY pid $!"
fi
if [ "$MOUNT" = agent ]; then
  # The agent mounts the share: report its mount before VW-AGENT-START.
  @PROG@ @ARGS@ $EXTRA &
  PID=$!
  i=0
  while [ $i -lt 60 ] && ! grep -q ' /mnt/virtwatt ' /proc/mounts; do sleep 1; i=$((i+1)); done
  if grep -q ' /mnt/virtwatt ' /proc/mounts; then
    echo "VW-MOUNT-OK $FS by the agent: $(grep ' /mnt/virtwatt ' /proc/mounts)"
  else
    echo "VW-MOUNT-FAIL $FS: the agent did not mount the share in 60 s"
  fi
  echo "VW-AGENT-START"
  wait $PID
  echo "VW-AGENT-EXIT $?"
  sleep 1
fi
while :; do
  echo "VW-AGENT-START"
  @PROG@ @ARGS@ $EXTRA
  echo "VW-AGENT-EXIT $?"
  sleep 1
done
`
