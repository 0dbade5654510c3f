#!/bin/sh
# Every header compiles on its own, under the project's warnings as errors: a header that compiles only after
# another one brought in what it uses breaks the first program that includes it first. Unity builds and
# precompiled headers hide exactly this (engine/vf_operation.hpp used ntstatus without including it, and only
# a target compiling it alone noticed).
#   core:   the freestanding core, as firmware includes it (one engine, one codec): freestanding, without
#           exceptions or RTTI.
#   hosted: the Asio layer, the transports, error.hpp and vpci.hpp, as a host program includes them.
# Usage: check_headers_alone.sh core|hosted CXX INCLUDE_DIR [FLAGS...]
set -u
part=$1
cxx=$2
include=$3
shift 3
core_headers=$(echo "$include"/vpci/core.hpp "$include"/vpci/block/*.hpp "$include"/vpci/config/*.hpp \
  "$include"/vpci/engine/*.hpp "$include"/vpci/protocol/*.hpp "$include"/vpci/wire/*.hpp)
hosted_headers=$(echo "$include"/vpci/error.hpp "$include"/vpci/vpci.hpp "$include"/vpci/asio/*.hpp \
  "$include"/vpci/asio/detail/*.hpp "$include"/vpci/transport/*.hpp "$include"/vpci/transport/detail/*.hpp)
# A header in neither list (a new directory) would never be checked: refuse it here.
for header in $(find "$include"/vpci -name '*.hpp'); do
  case " $core_headers $hosted_headers " in
    *" $header "*) ;;
    *) echo "$header is in neither list of check_headers_alone.sh"; exit 1 ;;
  esac
done
case $part in
  core)
    set -- -ffreestanding -fno-exceptions -fno-rtti "$@"
    headers=$core_headers ;;
  hosted)
    headers=$hosted_headers ;;
  *)
    echo "usage: check_headers_alone.sh core|hosted CXX INCLUDE_DIR [FLAGS...]" >&2
    exit 2 ;;
esac
errors="${TMPDIR:-/tmp}/vpci-header-alone.$$"
failed=0
count=0
for header in $headers; do
  name=${header#"$include"/}
  count=$((count + 1))
  if ! printf '#include <%s>\n' "$name" | "$cxx" -std=c++20 -Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion \
      -Werror -fsyntax-only "$@" -I "$include" -x c++ - 2>"$errors"; then
    echo "$name does not compile alone:"
    head -5 "$errors"
    failed=$((failed + 1))
  fi
done
rm -f "$errors"
echo "$part: $count headers, $failed failed"
[ "$failed" -eq 0 ]
