#!/usr/bin/env bash
# Usage: check_prefetch.sh COMPILER INCLUDE_DIR SOURCE OUT_DIR
# Compiles SOURCE to assembly at -O2 and -O3 and fails unless each function it names (vpci_codegen_*)
# reaches a prefetch instruction: in its own body or in a function of the same assembly it calls or
# jumps to. Skipped (exit 77) on a target whose prefetch instruction this script does not know.
set -euo pipefail
compiler=$1 include=$2 source=$3 out=$4
case $("$compiler" -dumpmachine) in
  x86_64* | i?86*) instruction='prefetch' ;;  # prefetcht0, prefetchw, ...
  aarch64*) instruction='prfm' ;;
  *) echo "no known prefetch instruction for $("$compiler" -dumpmachine)"; exit 77 ;;
esac
mkdir -p "$out"

# The lines of NAME's body in the assembly being checked (empty if it is not defined there).
body_of() {
  awk -v f="$1" 'index($0, f ":") == 1 { inside = 1 } inside { print } inside && $0 ~ "\\.size[ \t]+" f "," { exit }' "$assembly"
}
# Whether NAME's body, or that of a function it calls or jumps to in the same assembly (a compiler may
# keep the callee out of line and tail-call it), holds the instruction; DEPTH bounds the search.
reaches_prefetch() {
  local name=$1 depth=$2 body callee
  body=$(body_of "$name")
  [[ -n $body ]] || return 1
  grep -Eq "^[[:space:]]+$instruction" <<<"$body" && return 0
  ((depth < 4)) || return 1
  for callee in $(grep -Eo "^[[:space:]]+(call|jmp|bl|b)[[:space:]]+[A-Za-z_][A-Za-z0-9_]*" <<<"$body" | awk '{ print $2 }' | sort -u); do
    reaches_prefetch "$callee" $((depth + 1)) && return 0
  done
  return 1
}

names=$(grep -o 'vpci_codegen_[a-z_]*' "$source" | sort -u)
failed=0
for level in -O2 -O3; do
  assembly="$out/prefetch$level.s"
  "$compiler" -std=c++20 "$level" -Wall -Wextra -Werror -I "$include" -S "$source" -o "$assembly"
  for name in $names; do
    if [[ -z $(body_of "$name") ]]; then
      echo "$name: not found in the assembly at $level"
      failed=1
    elif ! reaches_prefetch "$name" 0; then
      echo "$name at $level: no $instruction instruction in it or its callees; the hint was compiled out"
      failed=1
    else
      echo "$name at $level: reaches a $instruction instruction"
    fi
  done
done
exit $failed
