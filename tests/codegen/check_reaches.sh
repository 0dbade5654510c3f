#!/usr/bin/env bash
# Usage: check_reaches.sh COMPILER INCLUDE_DIR SOURCE OUT_DIR WHAT
# Compiles SOURCE to assembly at -O2 and -O3 and fails unless each function it names (vpci_codegen_*)
# reaches WHAT: in its own body or in a function of the same assembly it calls or jumps to. WHAT is
#   prefetch  a prefetch instruction (a hint the compiler may not delete);
#   memmove   a call or jump to memmove or memcpy (a copy of a run-time length that is no byte loop).
# Skipped (exit 77) on a target whose instructions this script does not know.
set -euo pipefail
compiler=$1 include=$2 source=$3 out=$4 what=$5
machine=$("$compiler" -dumpmachine)
case $what:$machine in
  prefetch:x86_64* | prefetch:i?86*) instruction='prefetch' ;;  # prefetcht0, prefetchw, ...
  prefetch:aarch64*) instruction='prfm' ;;
  memmove:x86_64* | memmove:i?86*) instruction='(call|jmp)[[:space:]]+_*mem(move|cpy)\b' ;;
  memmove:aarch64*) instruction='(bl|b)[[:space:]]+_*mem(move|cpy)\b' ;;
  prefetch:* | memmove:*) echo "no known $what instruction for $machine"; exit 77 ;;
  *) echo "unknown WHAT '$what' (prefetch or memmove)"; exit 2 ;;
esac
mkdir -p "$out"

# The lines of NAME's body in the assembly being checked (empty if it is not defined there).
body_of() {
  awk -v f="$1" 'index($0, f ":") == 1 { inside = 1 } inside { print } inside && $0 ~ "\\.size[ \t]+" f "," { exit }' "$assembly"
}
# Whether NAME's body, or that of a function it calls or jumps to in the same assembly (a compiler may
# keep the callee out of line and tail-call it), holds the instruction; DEPTH bounds the search.
reaches() {
  local name=$1 depth=$2 body callee
  body=$(body_of "$name")
  [[ -n $body ]] || return 1
  grep -Eq "^[[:space:]]+$instruction" <<<"$body" && return 0
  ((depth < 4)) || return 1
  for callee in $(grep -Eo "^[[:space:]]+(call|jmp|bl|b)[[:space:]]+[A-Za-z_][A-Za-z0-9_]*" <<<"$body" | awk '{ print $2 }' | sort -u); do
    reaches "$callee" $((depth + 1)) && return 0
  done
  return 1
}

names=$(grep -o 'vpci_codegen_[a-z_]*' "$source" | sort -u)
failed=0
for level in -O2 -O3; do
  assembly="$out/$(basename "$source" .cpp)$level.s"
  "$compiler" -std=c++20 "$level" -Wall -Wextra -Werror -I "$include" -S "$source" -o "$assembly"
  for name in $names; do
    if [[ -z $(body_of "$name") ]]; then
      echo "$name: not found in the assembly at $level"
      failed=1
    elif ! reaches "$name" 0; then
      echo "$name at $level: reaches no $what in its body or its callees"
      failed=1
    else
      echo "$name at $level: reaches $what"
    fi
  done
done
exit $failed
