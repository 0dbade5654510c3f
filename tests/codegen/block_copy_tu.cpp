// What the codegen check (check_reaches.sh ... memmove) compiles: a copy of a run-time length through
// le::copy, the one rule every block copy of the hosted library follows (the VF engine's answers, the
// block store's contents), behind a plain symbol so that the check can find its body in the assembly. It
// must reach memmove: written as a byte loop, the copy stayed one with g++ 12 at -O2 (a fifth of an
// in-process block read) and became an inline vector loop at -O3.
#include <cstddef>
#include <span>

#include <vpci/block/endian.hpp>

extern "C" void vpci_codegen_block_copy(const std::byte* from, std::size_t size, std::byte* to) {
  vpci::le::copy(std::span<const std::byte>(from, size), to);
}
