# Sourced by the tests that build for another CPU and run under QEMU (tests/firmware_m4, tests/big_endian,
# tests/hosted_32bit).

# qemu_test_resolve CONFIGURED NAME: the configured path if it is an executable, else NAME on PATH, else empty.
qemu_test_resolve() {
  local configured=$1 name=$2
  if [[ -n $configured && $configured != *-NOTFOUND && -x $configured ]]; then echo "$configured"; return; fi
  command -v "$name" || true
}

# qemu_test_same EXPECTED ACTUAL EXPECTED_LABEL ACTUAL_LABEL: true when the two files are identical byte for
# byte; otherwise prints the difference (unified, under the two labels) and fails.
qemu_test_same() {
  local expected=$1 actual=$2 expected_label=$3 actual_label=$4
  touch "$actual"
  cmp -s "$expected" "$actual" && return 0
  diff -u --label "$expected_label" "$expected" --label "$actual_label" "$actual" || true
  return 1
}

# qemu_test_boost_headers BOOST_INCLUDE_DIRS OUT: links OUT/boost-include/boost to the host's Boost headers
# (the same for every architecture), so a cross compiler gets them without the rest of the host's include
# directory, whose C library headers are the host's. Prints OUT/boost-include; fails when there is none.
qemu_test_boost_headers() {
  local boost_include=$1 out=$2 dir
  for dir in ${boost_include//;/ }; do
    if [[ -d $dir/boost ]]; then
      mkdir -p "$out/boost-include"
      ln -sfn "$dir/boost" "$out/boost-include/boost"
      echo "$out/boost-include"
      return 0
    fi
  done
  echo "FAIL: no boost/ directory under the Boost include directories '$boost_include'" >&2
  return 1
}

# qemu_user_test_tools LABEL CXX_NAME QEMU_NAME PACKAGE: resolves the globals cxx and qemu (the configured
# paths, else CXX_NAME and QEMU_NAME on PATH); exits 77 (skipped) when either is missing.
qemu_user_test_tools() {
  local label=$1 cxx_name=$2 qemu_name=$3 package=$4
  cxx=$(qemu_test_resolve "$cxx" "$cxx_name")
  qemu=$(qemu_test_resolve "$qemu" "$qemu_name")
  if [[ -z $cxx || -z $qemu ]]; then
    echo "$label: $cxx_name or $qemu_name is not installed (Debian: $package qemu-user); skipped"
    exit 77
  fi
}
