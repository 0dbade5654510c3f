#!/usr/bin/env bash
# Usage: run_big_endian_test.sh S390X_CXX QEMU_S390X BOOST_INCLUDE_DIRS SOURCE_DIR OUT_DIR
# vpci defines its bytes, not its memory images: block encodings, mailbox registers, Hyper-V and Windows
# structures, config space are little-endian on every host (block/endian.hpp). On a little-endian host a
# store of the host's word gives the same bytes, so only a big-endian host can show a field stored without
# its conversion. This builds the suites whose subject is those bytes, unchanged, for s390x (big-endian),
# statically, and runs them under qemu-user; and the PF engine's register replay (tests/firmware_m4), whose
# output must equal expected_output.txt byte for byte.
# Left out: the vfio-user suites (vfio-user is in the host's byte order by its spec: their byte vectors are
# the little-endian host's), the shared-memory transport's (its presence words are robust futexes, which
# qemu-user does not emulate: set_robust_list fails with ENOSYS) and the suites that start vpci's tools.
# Exit 77 (skipped) when the cross compiler or qemu-s390x is missing (scripts/test installs both).
set -euo pipefail
cxx=$1 qemu=$2 boost_include=$3 source=$4 out=$5
here=$(cd "$(dirname "$0")" && pwd)

source "$here/../qemu_test_lib.sh"
qemu_user_test_tools big_endian s390x-linux-gnu-g++ qemu-s390x g++-s390x-linux-gnu

suites=(block_test c_header_test protocol_traces_test framing_test hyperv_wire_test windows_wire_test ndis_pf_test
        config_header_test config_capabilities_test config_sriov_test config_vsec_test config_find_mailbox_test
        sysfs_config_space_test vf_mailbox_engine_test pf_mailbox_test mailbox_endpoint_test
        vf_message_engine_test pf_message_session_test config_bounds_test)

boost_headers=$(qemu_test_boost_headers "$boost_include" "$out")
unity=$out/suites.cpp
: >"$unity"
for suite in "${suites[@]}"; do echo "#include \"$suite.cpp\"" >>"$unity"; done

flags=(-std=c++20 -O0 -static -Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion -Werror -Wno-subobject-linkage
       -isystem "$boost_headers" -I "$source/include" -I "$source/tests" -I "$source/examples"
       -DVPCI_SOURCE_DIR="\"$source\"")
"$cxx" "${flags[@]}" "$here/main.cpp" "$unity" -o "$out/suites" -lpthread -lrt
"$cxx" "${flags[@]}" "$source/tests/firmware_m4/host_main.cpp" -o "$out/replay"

status=0
"$qemu" "$out/suites" --report_level=short || status=1
replay_status=0
"$qemu" "$out/replay" >"$out/replay.txt" || replay_status=$?
if ((replay_status != 0)); then
  echo "FAIL: the PF engine's replay exited with status $replay_status on s390x"
  status=1
fi
if ! qemu_test_same "$source/tests/firmware_m4/expected_output.txt" "$out/replay.txt" expected_output.txt s390x; then
  echo "FAIL: the PF engine's replay on s390x differs from tests/firmware_m4/expected_output.txt (above)"
  status=1
fi
if ((status == 0)); then
  echo "big_endian: ${#suites[@]} suites and the PF engine's replay pass on s390x (big-endian, qemu-user)"
fi
exit $status
