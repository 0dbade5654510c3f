#!/bin/sh
# Runs vpci-conformance against examples/firmware-c's PF (or one of its broken variants) over shared
# memory: starts the PF with two VFs, waits for it to be ready, runs the tool with the firmware's blocks
# (examples/firmware-c/README.md), SIGHUP as its restart and SIGUSR2 as an FLR, stops the PF, and exits with the tool's status.
# usage: run_against_firmware_c.sh CONFORMANCE PF NAME [vpci-conformance options...]
set -u
if [ $# -lt 3 ]; then  # before $1..$3 are read: set -u would end the script with status 1, unexplained
  echo "usage: run_against_firmware_c.sh CONFORMANCE PF NAME [vpci-conformance options...]" >&2
  exit 2
fi
conformance=$1
pf=$2
name=$3
shift 3
log=$(mktemp)
"$pf" --shm "$name" --vfs 2 --heartbeat 50 --replace >"$log" 2>&1 &
pid=$!
tries=0
until grep -q "ready" "$log"; do
  tries=$((tries + 1))
  if [ "$tries" -gt 500 ] || ! kill -0 "$pid" 2>/dev/null; then
    echo "the PF did not become ready:" >&2
    cat "$log" >&2
    kill -TERM "$pid" 2>/dev/null
    rm -f "$log"
    exit 2
  fi
  sleep 0.01
done
"$conformance" --shm "$name" --shm2 "$name-1" \
  --block 1:16 --block 2:128:ro --block 0:6:ro --block 3:4 --block 4:8:wo --block 5:128 --block 0xC0DE0001:12 --block 40:8 \
  --foreign-block 41 --second-block 41:8 --invalidate-block 4 --restart-cmd "kill -HUP $pid" --flr-cmd "kill -USR2 $pid" "$@"
status=$?
kill -TERM "$pid" 2>/dev/null
wait "$pid"
rm -f "$log"
exit "$status"
