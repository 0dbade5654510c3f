#!/usr/bin/env bash
# Usage: check_footprint.sh CXX SIZE NM INCLUDE_DIR SOURCE OUT_DIR CONTENT_BYTES MAX_FLASH MAX_RAM
# Links SOURCE (the PF engine with its entry point) into a Cortex-M4 image at -Os with the freestanding
# flags, prints text/data/bss (arm-none-eabi-size), flash (text + data) and RAM beyond the block
# contents (data + bss - CONTENT_BYTES) and the largest objects, and fails above MAX_FLASH or MAX_RAM
# bytes, or when an object of more than 64 bytes is in .data (it would cost flash for its image as
# well). Exit 77 (skipped) when the cross toolchain is missing.
set -euo pipefail
cxx=$1 size=$2 nm=$3 include=$4 source=$5 out=$6 contents=$7 max_flash=$8 max_ram=$9
for tool in "$cxx" "$size" "$nm"; do
  if [[ -z $tool || $tool == *-NOTFOUND || ! -x $(command -v "$tool" || true) ]]; then
    echo "footprint: the arm-none-eabi toolchain is not installed; skipped"
    exit 77
  fi
done
mkdir -p "$out"
image=$out/pf_engine.elf
"$cxx" -std=c++20 -mcpu=cortex-m4 -mthumb -mfloat-abi=soft -Os -ffreestanding -fno-exceptions -fno-rtti \
  -ffunction-sections -fdata-sections -flto -Wall -Wextra -Werror -I "$include" "$source" -o "$image" \
  -nostartfiles --specs=nano.specs -Wl,--gc-sections -Wl,-e,vpci_pf_dispatch
"$size" "$image"
read -r text data bss _ < <("$size" "$image" | tail -1)
# The harness's own code is not the PF engine: the firmware's applying of the session's writes to its
# register file (apply) and the IHV's computed block (counter_block, with its vtable).
harness=$("$nm" -S -t d -C "$image" | awk '/\(anonymous namespace\)::(apply|counter_block)|vtable for \(anonymous namespace\)::counter_block/ { sum += $2 } END { print sum + 0 }')
text=$((text - harness))
flash=$((text + data))
ram=$((data + bss - contents))
echo
echo "largest objects and functions (bytes, type, name):"
"$nm" -S -t d --size-sort -C "$image" | tail -12 | awk '{ printf "  %6d %s %s\n", $2, $3, substr($0, index($0, $4)) }'
echo
echo "PF engine on Cortex-M4 -Os: flash ${flash} bytes (text ${text} + data ${data}, the harness's ${harness} bytes left out), limit ${max_flash};" \
     "RAM beyond the ${contents} bytes of block contents ${ram} bytes (data ${data} + bss ${bss} - ${contents}), limit ${max_ram}"
status=0
large_data=$("$nm" -S -t d -C "$image" | awk '$3 ~ /^[dD]$/ && $2 + 0 > 64' || true)
if [[ -n $large_data ]]; then
  echo "FAIL: objects of more than 64 bytes in .data:"
  echo "$large_data"
  status=1
fi
if ((flash > max_flash)); then
  echo "FAIL: flash ${flash} > ${max_flash}"
  status=1
fi
if ((ram > max_ram)); then
  echo "FAIL: RAM ${ram} > ${max_ram}"
  status=1
fi
exit $status
