#!/usr/bin/env bash
# Usage: check_stack.sh CXX INCLUDE_DIR SOURCE OUT_DIR MAX_BYTES
# Compiles SOURCE for a Cortex-M4 at -Os with the freestanding flags and GCC's call graph with stack usage
# (-fcallgraph-info=su), then prints, for each extern "C" entry point vpci_fw_*, the deepest chain of
# frames it can reach (the sum along the call graph's longest path: what it needs of the firmware's
# stack), and fails when one needs more than MAX_BYTES, when a frame is dynamic (alloca, a variable-length
# array) or when a call chain is recursive (no bound). Exit 77 (skipped) when the cross compiler is missing.
set -euo pipefail
cxx=$1 include=$2 source=$3 out=$4 max=$5
if [[ -z $cxx || $cxx == *-NOTFOUND || ! -x $(command -v "$cxx" || true) ]]; then
  echo "stack: the arm-none-eabi toolchain is not installed; skipped"
  exit 77
fi
mkdir -p "$out"
object=$out/stack_usage.o
"$cxx" -std=c++20 -mcpu=cortex-m4 -mthumb -mfloat-abi=soft -Os -ffreestanding -fno-exceptions -fno-rtti \
  -Wall -Wextra -Werror -fcallgraph-info=su -I "$include" -c "$source" -o "$object"
graph=${object%.o}.ci
# The graph (VCG): node: { title: "T" label: "NAME\nFILE:LINE:COL\nN bytes (static)" } and
# edge: { sourcename: "A" targetname: "B" }. A callee outside the unit (memcpy) has no frame here: 0.
awk -v max="$max" '
  function field(line, key,    at, rest) {
    at = index(line, key ": \"")
    if (at == 0) return ""
    rest = substr(line, at + length(key) + 3)
    return substr(rest, 1, index(rest, "\"") - 1)
  }
  /^node:/ {
    title = field($0, "title"); label = field($0, "label")
    n = split(label, parts, /\\n/)
    name[title] = parts[1]
    if (match(parts[n], /^[0-9]+ bytes/)) frame[title] = substr(parts[n], 1, RLENGTH - 6) + 0
    if (parts[n] ~ /dynamic/) dynamic[title] = 1
    next
  }
  /^edge:/ {
    from = field($0, "sourcename"); to = field($0, "targetname")
    callees[from] = callees[from] SUBSEP to
    next
  }
  # deepest(t): the largest sum of frames on a call chain from t; -1 when the chain recurses.
  function deepest(t,    list, count, i, d, best) {
    if (t in done) return done[t]
    if (t in on_path) return -1
    on_path[t] = 1
    best = 0
    count = split(substr(callees[t], 2), list, SUBSEP)
    for (i = 1; i <= count; ++i) {
      d = deepest(list[i])
      if (d < 0) { delete on_path[t]; return -1 }
      if (d > best) best = d
    }
    delete on_path[t]
    done[t] = frame[t] + best
    return done[t]
  }
  END {
    status = 0
    for (t in dynamic) { print "FAIL: a dynamic frame: " name[t]; status = 1 }
    for (t in name) {
      if (t !~ /^vpci_fw_/) continue
      d = deepest(t)
      entry = t
      if (d < 0) { print "FAIL: " entry " reaches a recursive call chain"; status = 1; continue }
      printf "  %-20s %5d bytes of stack at most\n", entry, d
      if (d > max) { print "FAIL: " entry " needs " d " bytes > " max; status = 1 }
      ++entries
    }
    if (entries == 0) { print "FAIL: no vpci_fw_* entry point in the call graph"; status = 1 }
    exit status
  }
' "$graph" | sort
