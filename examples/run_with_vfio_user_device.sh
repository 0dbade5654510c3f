#!/bin/bash
# Runs COMMAND... against a vpci-vfio-user-device process: starts the device on SOCKET with the device
# options given before "--", waits for its "listening on" line (read from its output: no polling), runs
# the command, stops the device (SIGTERM) and exits with the command's status (2 when the device did not
# start, after what the device said).
# usage: run_with_vfio_user_device.sh DEVICE SOCKET [DEVICE_OPTION...] -- COMMAND [ARGS...]
set -u
usage() {
  echo "usage: run_with_vfio_user_device.sh DEVICE SOCKET [DEVICE_OPTION...] -- COMMAND [ARGS...]" >&2
  exit 2
}
# Counted before DEVICE and SOCKET are read: under set -u a missing one would end the script as an unbound
# variable (status 1) instead of a usage error.
[ $# -ge 2 ] || usage
# TEXT between single quotes, each byte outside printable ASCII as \xHH: the tools' quoting
# (examples/quoted_text.hpp), so that a path cannot put control characters on the user's terminal.
quoted() {
  local LC_ALL=C text=$1 out="'" c i
  for ((i = 0; i < ${#text}; i++)); do
    c=${text:i:1}
    if [[ $c == [[:print:]] ]]; then
      out+=$c
    else
      printf -v c '\\x%02X' "'$c"
      out+=$c
    fi
  done
  printf '%s' "$out'"
}
device=$1
socket=$2
shift 2
device_options=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  device_options+=("$1")
  shift
done
[ $# -ge 2 ] || usage
shift  # --
exec {out}< <(exec "$device" "$socket" "${device_options[@]}" 2>&1)
pid=$!
ready=0
# What the device says before it listens is kept: when it does not start, its own message says why.
said=()
# Each line within 10 s.
while IFS= read -r -t 10 line <&"$out"; do
  case $line in
    "listening on "*) ready=1; break ;;
  esac
  said+=("$line")
done
if [ "$ready" -ne 1 ]; then
  [ ${#said[@]} -eq 0 ] || printf '%s\n' "${said[@]}" >&2
  echo "vpci-vfio-user-device did not start listening on $(quoted "$socket")" >&2
  kill -TERM "$pid" 2>/dev/null
  exit 2
fi
# Keep draining the device's output (its connection lines) so it never blocks on a full pipe.
cat <&"$out" >/dev/null &
drain=$!
"$@"
status=$?
kill -TERM "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
wait "$drain" 2>/dev/null
exec {out}<&-
exit "$status"
