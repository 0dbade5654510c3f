# Sourced by the tests that build for another CPU and run under QEMU (tests/firmware_m4, tests/big_endian).

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
