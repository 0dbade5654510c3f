#!/usr/bin/env bash
# Usage: check_optimised_run.sh COMPILER INCLUDE_DIR SOURCE OUT_DIR
# Builds SOURCE at -O1, -O2, -O3 and -Os and runs each build, which checks its own results (exit 0). The
# suite itself builds without optimisation, so this is where a miscompile at the levels users build with
# shows. A build that runs for more than 20 s is taken as hung (an endless loop the optimiser made).
set -euo pipefail
compiler=$1 include=$2 source=$3 out=$4
mkdir -p "$out"
failed=0
for level in -O1 -O2 -O3 -Os; do
  program="$out/$(basename "$source" .cpp)$level"
  "$compiler" -std=c++20 "$level" -Wall -Wextra -Werror -I "$include" "$source" -o "$program"
  status=0
  output=$(timeout 20 "$program") || status=$?
  if ((status == 124)); then
    echo "$level: did not finish in 20 s (hung)"
    failed=1
  elif ((status != 0)); then
    echo "$level: exit $status: $output"
    failed=1
  else
    echo "$level: $output"
  fi
done
exit $failed
