#!/usr/bin/env bash
# Usage: run_hosted_32bit_test.sh ARMHF_CXX QEMU_ARM BOOST_INCLUDE_DIRS SOURCE_DIR OUT_DIR
# The hosted layer on a 32-bit Linux host (32-bit ARM: size_t, long and pointers of 32 bits), built with a
# 64-bit time_t and off_t (_TIME_BITS=64, as Debian 13's and Ubuntu 24.04's armhf build everything), with
# the armhf cross compiler, statically, run under qemu-user:
# - every public header, and every tool's source, compile warning-free under the project's flags;
# - the shared-memory transport's timed futex wait sleeps (futex_timeout.cpp: it returned at once), also
#   built as for an architecture without SYS_futex (riscv32: the header did not compile there);
# - suites whose subject is sizes, counts and lengths in the hosted layer pass.
# Left out: the shared-memory suites (robust futexes: qemu-user's set_robust_list fails with ENOSYS), the
# suites that fork (qemu-user), the vfio-user socket suites (qemu-user drops MSG_CTRUNC).
# Exit 77 (skipped) when the cross compiler or qemu-arm is missing (scripts/test installs both).
set -euo pipefail
cxx=$1 qemu=$2 boost_include=$3 source=$4 out=$5
here=$(cd "$(dirname "$0")" && pwd)

source "$here/../qemu_test_lib.sh"
qemu_user_test_tools hosted_32bit arm-linux-gnueabihf-g++ qemu-arm g++-arm-linux-gnueabihf

boost_headers=$(qemu_test_boost_headers "$boost_include" "$out")

flags=(-std=c++20 -O0 -Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion -Werror -Wno-subobject-linkage
       -D_TIME_BITS=64 -D_FILE_OFFSET_BITS=64
       -isystem "$boost_headers" -I "$source/include" -I "$source/tests" -I "$source/examples"
       -DVPCI_SOURCE_DIR="\"$source\"")
status=0

# Every public header in one translation unit, then each tool's source.
headers=$out/headers.cpp
: >"$headers"
while IFS= read -r header; do echo "#include <${header#"$source/include/"}>" >>"$headers"; done \
  < <(find "$source/include/vpci" -name '*.hpp' | sort)
if ! "$cxx" "${flags[@]}" -fsyntax-only "$headers"; then
  echo "FAIL: the public headers do not compile warning-free for 32-bit ARM"
  status=1
fi
for tool in codec.cpp demo.cpp inspect.cpp conformance/conformance.cpp perf/perf.cpp vfio_user_device.cpp; do
  if ! "$cxx" "${flags[@]}" -fsyntax-only "$source/examples/$tool"; then
    echo "FAIL: examples/$tool does not compile warning-free for 32-bit ARM"
    status=1
  fi
done

"$cxx" "${flags[@]}" -static "$here/futex_timeout.cpp" -o "$out/futex_timeout" -lpthread
"$qemu" "$out/futex_timeout" || status=1
"$cxx" "${flags[@]}" -static -DVPCI_TEST_ONLY_FUTEX_TIME64 "$here/futex_timeout.cpp" -o "$out/futex_timeout_time64_only" \
  -lpthread
"$qemu" "$out/futex_timeout_time64_only" || status=1

suites=(c_header_test perf_histogram_test mailbox_fault_test windows_wire_test timing_test memory_config_space_test)
unity=$out/suites.cpp
: >"$unity"
for suite in "${suites[@]}"; do echo "#include \"$suite.cpp\"" >>"$unity"; done
"$cxx" "${flags[@]}" -static "$here/main.cpp" "$unity" -o "$out/suites" -lpthread -lrt
"$qemu" "$out/suites" --report_level=short || status=1

if ((status == 0)); then
  echo "hosted_32bit: the headers and tools compile, the timed futex wait sleeps (with and without SYS_futex) and ${#suites[@]} suites pass on 32-bit ARM (time64, qemu-user)"
fi
exit $status
