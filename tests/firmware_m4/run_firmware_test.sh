#!/usr/bin/env bash
# Usage: run_firmware_test.sh ARM_CXX QEMU HOST_PROGRAM INCLUDE_DIR OUT_DIR
# Builds the Cortex-M4 image (startup.cpp + firmware_main.cpp, mps2_an386.ld) with the freestanding flags,
# checks it links nothing from the heap, exceptions, RTTI or stdio, runs it under qemu-system-arm
# (mps2-an386, semihosting output to a file, bounded by a timeout), runs HOST_PROGRAM (the same replay
# built for the host), and requires: both exit 0, and the image's output, the host's and the committed
# expected_output.txt are identical byte for byte. Exit 77 (skipped) when the cross compiler or
# qemu-system-arm is missing (scripts/test installs both).
set -euo pipefail
cxx=$1 qemu=$2 host_program=$3 include=$4 out=$5
here=$(cd "$(dirname "$0")" && pwd)
qemu_seconds=60

source "$here/../qemu_test_lib.sh"
cxx=$(qemu_test_resolve "$cxx" arm-none-eabi-g++)
qemu=$(qemu_test_resolve "$qemu" qemu-system-arm)
if [[ -z $cxx ]]; then
  echo "firmware_m4: arm-none-eabi-g++ is not installed (Debian: gcc-arm-none-eabi libstdc++-arm-none-eabi-newlib); skipped"
  exit 77
fi
if [[ -z $qemu ]]; then
  echo "firmware_m4: qemu-system-arm is not installed (Debian: qemu-system-arm); skipped"
  exit 77
fi
nm=${cxx%g++}nm

mkdir -p "$out"
image=$out/pf_engine_m4.elf
rm -f "$image" "$out/target.txt" "$out/host.txt"
"$cxx" -std=c++20 -mcpu=cortex-m4 -mthumb -mfloat-abi=soft -Os -ffreestanding -fno-exceptions -fno-rtti \
  -fno-threadsafe-statics -ffunction-sections -fdata-sections \
  -Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion -Werror -I "$include" \
  "$here/startup.cpp" "$here/firmware_main.cpp" -T "$here/mps2_an386.ld" \
  -nostartfiles --specs=nano.specs -Wl,--gc-sections -o "$image"
forbidden=$("$nm" "$image" | grep -E ' (malloc|calloc|realloc|free|_sbrk|_Znw.*|_Zna.*|_ZdlPv.*|_ZdaPv.*|__cxa_.*|_ZTI.*|printf|puts|fwrite|abort)$' || true)
if [[ -n $forbidden ]]; then
  echo "FAIL: the image links runtime symbols the freestanding core must not need:"
  echo "$forbidden"
  exit 1
fi

# Semihosting output goes to a file chardev, so qemu's own messages (stderr) never mix into it.
qemu_status=0
timeout --kill-after=5 "$qemu_seconds" "$qemu" -M mps2-an386 -nographic -monitor none -serial none \
  -chardev "file,id=semihosting,path=$out/target.txt" \
  -semihosting-config enable=on,target=native,chardev=semihosting -kernel "$image" || qemu_status=$?
host_status=0
"$host_program" >"$out/host.txt" || host_status=$?

status=0
if ((qemu_status == 124 || qemu_status == 137)); then
  echo "FAIL: the image did not exit within ${qemu_seconds} s under qemu-system-arm"
  status=1
elif ((qemu_status != 0)); then
  echo "FAIL: the image exited with status $qemu_status (1: a recorded value did not match, 3: a fault)"
  status=1
fi
if ((host_status != 0)); then
  echo "FAIL: the host replay exited with status $host_status"
  status=1
fi
if ! qemu_test_same "$out/host.txt" "$out/target.txt" host cortex-m4; then
  echo "FAIL: the Cortex-M4 image's output differs from the host's (above)"
  status=1
fi
if ! qemu_test_same "$here/expected_output.txt" "$out/host.txt" expected_output.txt host; then
  echo "FAIL: the host's output differs from tests/firmware_m4/expected_output.txt (above)"
  status=1
fi
if ((status == 0)); then
  echo "firmware_m4: the PF engine on Cortex-M4 (qemu-system-arm mps2-an386) made the same register writes as on the host" \
       "and as expected_output.txt: $(tail -1 "$out/host.txt")"
  "${cxx%g++}size" "$image"
fi
exit $status
