#!/usr/bin/env bash
# Usage: check_freestanding.sh COMPILER INCLUDE_DIR SOURCE OUT_OBJECT NM [extra compiler flags...]
# Compiles SOURCE with exactly the freestanding flags, then fails if the object needs the heap,
# exceptions, RTTI or stdio from a runtime.
set -euo pipefail
compiler=$1 include=$2 source=$3 object=$4 nm=$5
shift 5
"$compiler" "$@" -std=c++20 -ffreestanding -fno-exceptions -fno-rtti -Wall -Wextra -Werror \
  -O1 -I "$include" -c "$source" -o "$object"
undefined=$("$nm" -u "$object" || true)
forbidden=$(grep -E '_Znw|_Zna|_ZdlPv|_ZdaPv|malloc|calloc|realloc|free$|__cxa_throw|__cxa_allocate_exception|_ZTI|printf|puts|fwrite|abort' <<<"$undefined" || true)
if [[ -n $forbidden ]]; then
  echo "freestanding core needs runtime symbols it must not use:"
  echo "$forbidden"
  exit 1
fi
echo "freestanding core compiled: $(wc -l <<<"$undefined") undefined symbols, none from heap, exceptions or I/O"
