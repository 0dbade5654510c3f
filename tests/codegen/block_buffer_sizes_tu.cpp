// What block_buffers_of_several_sizes_survive_optimisation compiles and runs at -O1, -O2, -O3 and -Os:
// block buffers of three sizes in one program, each resized and compared both where the call is inlined
// and where it is not. g++ 12 at -O2 folded the out-of-line parts of block_buffer<6>, <11> and <128>
// into one with the 6-byte array's bound, and block<1, an 11-byte T>::to_buffer became an endless loop
// (the test's timeout ends it). Exit 0 when every figure is right, 1 (naming the first wrong one) if not.
#include <array>
#include <cstdint>
#include <cstdio>

#include <vpci/block/block.hpp>

#include "../../examples/blocks.hpp"

namespace {

// The examples' block set: 6, 11 and 128 bytes, the sizes vpci-vfio-user-device defines.
using six_byte_block = example::mac_block;
using eleven_byte_block = example::vf_config_block;
using full_size_block = example::stats_block;

int failures = 0;
void expect(bool holds, const char* what) {
  if (holds) return;
  if (failures++ == 0) std::printf("wrong: %s\n", what);
}

// Out of line, so that the compiler keeps (and may split and fold) each size's own copy.
template <class Block>
[[gnu::noinline]] typename Block::buffer_type encoded(const typename Block::value_type& value) {
  return Block::to_buffer(value);
}
template <std::size_t N>
[[gnu::noinline]] bool resized(vpci::block_buffer<N>& buffer, std::size_t length) {
  return buffer.resize(length) == vpci::no_error;
}
template <std::size_t N>
[[gnu::noinline]] bool equal(const vpci::block_buffer<N>& a, const vpci::block_buffer<N>& b) {
  return a == b;
}

// Resizes a buffer of N bytes in steps from `start` (the caller's argc, so the lengths are not constants)
// and checks the length, the zeroed bytes and equality at each step.
template <std::size_t N>
void grow_and_compare(std::size_t start) {
  vpci::block_buffer<N> a;
  vpci::block_buffer<N> b;
  std::size_t old_length = 0;
  for (std::size_t length = start; length <= N; old_length = length, length += 1 + length / 3) {
    expect(resized(a, length) && resized(b, length), "resize within the capacity");
    expect(a.size() == length && b.size() == length, "the new length");
    bool zero = true;
    for (std::byte byte : a.span().subspan(old_length)) zero = zero && byte == std::byte{0};
    expect(zero, "bytes past the old length are zero");
    expect(equal(a, b), "equal buffers compare equal");
    a.data()[length - 1] = std::byte{0x5A};
    expect(!equal(a, b), "a difference in the last byte is seen");
    b.data()[length - 1] = std::byte{0x5A};
    expect(equal(a, b), "equal again");
  }
  expect(!resized(a, N + start), "a length past the capacity is refused");
  expect(a.size() == old_length && a.data()[old_length - 1] == std::byte{0x5A}, "a refused resize changes nothing");
}

}  // namespace

int main(int argc, char**) {
  const auto start = static_cast<std::size_t>(argc);  // 1: the lengths are not compile-time constants
  const auto six = encoded<six_byte_block>({1, 2, 3, 4, 5, 6});
  expect(six.size() == 6 && six.span()[5] == std::byte{6}, "the 6-byte block's encoding");
  const auto eleven = encoded<eleven_byte_block>({0x0102, example::vf_flags{0x0304}, 0x05060708, 0x090A, 0x0B});
  expect(eleven.size() == 11 && eleven.span()[0] == std::byte{0x02} && eleven.span()[10] == std::byte{0x0B},
         "the 11-byte block's encoding");
  example::stats_frame full{};
  full.data[119] = 0x7F;
  const auto all = encoded<full_size_block>(full);
  expect(all.size() == 128 && all.span()[127] == std::byte{0x7F}, "the 128-byte block's encoding");
  grow_and_compare<6>(start);
  grow_and_compare<11>(start);
  grow_and_compare<128>(start);
  if (failures == 0) std::printf("block buffers of 6, 11 and 128 bytes: right\n");
  return failures == 0 ? 0 : 1;
}
