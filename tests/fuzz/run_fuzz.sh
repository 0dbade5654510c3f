#!/usr/bin/env bash
# Runs one libFuzzer target: replays its seeds, then fuzzes for SECONDS.
#
#   run_fuzz.sh [--fresh] BINARY SCRATCH SECONDS MAX_LEN DICT SEED_DIR...
#
# New inputs go to SCRATCH/corpus (the first corpus directory libFuzzer is given, the only one it writes),
# never into the seed directories; crash inputs go to SCRATCH/artifacts. --fresh empties SCRATCH first (the
# ctests: every run starts from the committed seeds). DICT is a libFuzzer dictionary or "-"; seed
# directories that do not exist are skipped (the reference seeds exist only beside ../shared). The output
# is libFuzzer's, with -print_final_stats; the exit status is libFuzzer's (non-zero on a crash, a leak, a
# timeout or a broken invariant).
set -euo pipefail

fresh=0
if [[ ${1:-} == --fresh ]]; then
  fresh=1
  shift
fi
if (($# < 6)); then
  echo "usage: $0 [--fresh] BINARY SCRATCH SECONDS MAX_LEN DICT SEED_DIR..." >&2
  exit 2
fi
binary=$1 scratch=$2 seconds=$3 max_len=$4 dict=$5
shift 5

((fresh)) && rm -rf "$scratch"
mkdir -p "$scratch/corpus" "$scratch/artifacts"

args=(-max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
      -artifact_prefix="$scratch/artifacts/")
[[ $dict != - ]] && args+=(-dict="$dict")
seeds=()
for dir in "$@"; do
  [[ -d $dir ]] && seeds+=("$dir")
done
exec "$binary" "${args[@]}" "$scratch/corpus" "${seeds[@]}"
