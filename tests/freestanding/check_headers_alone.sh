#!/bin/sh
# Every header of the freestanding core compiles on its own, as firmware includes it (one engine, one codec),
# freestanding, without exceptions or RTTI, under warnings as errors: a header that compiles only after
# another one brought in what it uses breaks a firmware build that includes it first.
# Usage: check_headers_alone.sh CXX INCLUDE_DIR [FLAGS...]
set -u
cxx=$1
include=$2
shift 2
failed=0
count=0
for header in "$include"/vpci/core.hpp "$include"/vpci/block/*.hpp "$include"/vpci/config/*.hpp \
              "$include"/vpci/engine/*.hpp "$include"/vpci/protocol/*.hpp "$include"/vpci/wire/*.hpp; do
  name=${header#"$include"/}
  count=$((count + 1))
  if ! printf '#include <%s>\n' "$name" | "$cxx" -std=c++20 -ffreestanding -fno-exceptions -fno-rtti -Wall -Wextra \
      -Wpedantic -Werror -fsyntax-only "$@" -I "$include" -x c++ - 2>"${TMPDIR:-/tmp}/vpci-header-alone.$$"; then
    echo "$name does not compile alone:"
    head -5 "${TMPDIR:-/tmp}/vpci-header-alone.$$"
    failed=$((failed + 1))
  fi
done
rm -f "${TMPDIR:-/tmp}/vpci-header-alone.$$"
echo "$count headers, $failed failed"
[ "$failed" -eq 0 ]
