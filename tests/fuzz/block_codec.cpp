// Fuzz target: the block codec (block/block.hpp, block/layout.hpp) over a descriptor whose payload has
// every field kind the layout supports: unsigned and signed integers of each width, char and char16_t,
// bool, std::byte, scoped and unscoped enums (signed and unsigned underlying types), float, double,
// std::array, a C array, a C array of C arrays, a nested described struct and an array of them. Also
// block_buffer's assign/resize and the checked block views on the same input.
//
// Invariants:
// - block::decode accepts exactly an input of block::size bytes whose bool bytes are all 0 or 1
//   (invalid_length for another size, bad_data for another bool byte), with no value otherwise; no read
//   past the input (exact-size heap copy);
// - each field decodes from its packed little-endian offset (written out here by hand from the field
//   order: the layout has no padding);
// - encode(decode(x)) == x, bit for bit (floats travel as their bit patterns, NaN payloads included);
//   to_buffer() and the fixed-size encode give the same bytes;
// - the span encoder refuses too small a buffer with buffer_too_small and writes nothing, else writes
//   exactly block::size bytes;
// - block_buffer::assign / resize / commit refuse more than N bytes and leave the buffer as it was; resize
//   zeroes the bytes it adds; commit keeps the bytes received into storage(); block_view::make accepts
//   exactly 1..128 bytes.
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>

#include <vpci/block/block.hpp>
#include <vpci/block/block_buffer.hpp>

#include "every_kind.hpp"
#include "fuzz_support.hpp"

using namespace vpci;
using namespace vpci::fuzz;

namespace {

template <class U>
U at(std::span<const std::byte> x, std::size_t offset) {
  return le::load<U>(x.data() + offset);
}

void check_fields(const every_kind& v, std::span<const std::byte> x) {
  VPCI_FUZZ_CHECK(v.u8 == at<std::uint8_t>(x, 0));
  VPCI_FUZZ_CHECK(static_cast<std::uint8_t>(v.i8) == at<std::uint8_t>(x, 1));
  VPCI_FUZZ_CHECK(v.u16 == at<std::uint16_t>(x, 2));
  VPCI_FUZZ_CHECK(static_cast<std::uint16_t>(v.i16) == at<std::uint16_t>(x, 4));
  VPCI_FUZZ_CHECK(v.u32 == at<std::uint32_t>(x, 6));
  VPCI_FUZZ_CHECK(static_cast<std::uint32_t>(v.i32) == at<std::uint32_t>(x, 10));
  VPCI_FUZZ_CHECK(v.u64 == at<std::uint64_t>(x, 14));
  VPCI_FUZZ_CHECK(static_cast<std::uint64_t>(v.i64) == at<std::uint64_t>(x, 22));
  VPCI_FUZZ_CHECK(static_cast<std::uint8_t>(v.c) == at<std::uint8_t>(x, 30));
  VPCI_FUZZ_CHECK(static_cast<std::uint16_t>(v.c16) == at<std::uint16_t>(x, 31));
  VPCI_FUZZ_CHECK(v.flag == (x[33] == std::byte{1}));
  VPCI_FUZZ_CHECK(v.raw == x[34]);
  VPCI_FUZZ_CHECK(static_cast<std::uint16_t>(v.col) == at<std::uint16_t>(x, 35));
  VPCI_FUZZ_CHECK(static_cast<std::uint8_t>(v.pl) == at<std::uint8_t>(x, 37));
  VPCI_FUZZ_CHECK(std::bit_cast<std::uint32_t>(v.f) == at<std::uint32_t>(x, 38));
  VPCI_FUZZ_CHECK(std::bit_cast<std::uint64_t>(v.d) == at<std::uint64_t>(x, 42));
  for (std::size_t i = 0; i < 3; ++i) VPCI_FUZZ_CHECK(v.arr[i] == at<std::uint16_t>(x, 50 + 2 * i));
  VPCI_FUZZ_CHECK(v.flags[0] == (x[56] == std::byte{1}) && v.flags[1] == (x[57] == std::byte{1}));
  const inner* nested[3] = {&v.nested, &v.nested_array[0], &v.nested_array[1]};
  for (std::size_t i = 0; i < 3; ++i) {
    const std::size_t base = 58 + 7 * i;
    VPCI_FUZZ_CHECK(nested[i]->word == at<std::uint32_t>(x, base));
    VPCI_FUZZ_CHECK(nested[i]->flag == (x[base + 4] == std::byte{1}));
    VPCI_FUZZ_CHECK(nested[i]->raw[0] == x[base + 5] && nested[i]->raw[1] == x[base + 6]);
  }
  for (std::size_t i = 0; i < 4; ++i)
    VPCI_FUZZ_CHECK(static_cast<std::uint32_t>(v.grid[i / 2][i % 2]) == at<std::uint32_t>(x, 79 + 4 * i));
}

void check_codec(std::span<const std::byte> x) {
  auto decoded = every_block::decode(x);
  bool bools_ok = true;
  if (x.size() == every_block::size)
    for (const std::size_t offset : bool_offsets) bools_ok = bools_ok && (x[offset] == std::byte{0} || x[offset] == std::byte{1});
  VPCI_FUZZ_CHECK(decoded.has_value() == (x.size() == every_block::size && bools_ok));
  if (!decoded) {
    VPCI_FUZZ_CHECK(decoded.error() == (x.size() != every_block::size ? errc::invalid_length : errc::bad_data));
    // No value: the default payload, which encodes to zeros.
    const auto zeros = every_block::to_buffer(decoded.value());
    for (const std::byte b : zeros.span()) VPCI_FUZZ_CHECK(b == std::byte{0});
    return;
  }
  check_fields(*decoded, x);

  std::array<std::byte, every_block::size> fixed{};
  every_block::encode(*decoded, fixed);
  VPCI_FUZZ_CHECK(equal(fixed, x));
  const auto buffer = every_block::to_buffer(*decoded);
  VPCI_FUZZ_CHECK(buffer.size() == every_block::size && equal(buffer.span(), x));
  std::array<std::byte, every_block::size> via_span{};
  every_block::encode(*decoded, std::span<std::byte, every_block::size>{via_span});
  VPCI_FUZZ_CHECK(equal(via_span, x));

  for (const std::size_t room : {std::size_t{0}, every_block::size - 1, every_block::size, every_block::size + 9}) {
    sentinel_buffer out{room};
    const errc e = every_block::encode(*decoded, out.span());
    if (room < every_block::size) {
      VPCI_FUZZ_CHECK(e == errc::buffer_too_small && out.untouched_from(0));
    } else {
      VPCI_FUZZ_CHECK(e == no_error && equal(out.view().first(every_block::size), x) &&
                      out.untouched_from(every_block::size));
    }
  }
}

void check_buffers(std::span<const std::byte> x) {
  block_buffer<> buffer;
  const auto seed = x.first(x.size() < 5 ? x.size() : 5);
  VPCI_FUZZ_CHECK(buffer.assign(seed) == no_error && equal(buffer.span(), seed));
  const errc e = buffer.assign(x);
  VPCI_FUZZ_CHECK((e == no_error) == (x.size() <= max_block_size));
  VPCI_FUZZ_CHECK(equal(buffer.span(), e == no_error ? x : seed));
  if (e != no_error) VPCI_FUZZ_CHECK(e == errc::invalid_length);

  const std::size_t old = buffer.size();
  const std::size_t wanted = x.empty() ? 0 : static_cast<std::size_t>(x[0]);
  const errc r = buffer.resize(wanted);
  VPCI_FUZZ_CHECK((r == no_error) == (wanted <= max_block_size));
  if (r == no_error) {
    VPCI_FUZZ_CHECK(buffer.size() == wanted);
    for (std::size_t i = 0; i < wanted; ++i)
      VPCI_FUZZ_CHECK(buffer.span()[i] == (i < old ? x[i] : std::byte{0}));
  } else {
    VPCI_FUZZ_CHECK(r == errc::invalid_length && buffer.size() == old && equal(buffer.span(), x.first(old)));
  }

  // Shrinking and growing again: the bytes that come back are zero, not what was there before.
  const std::size_t full = buffer.size();
  VPCI_FUZZ_CHECK(buffer.resize(full / 2) == no_error && buffer.resize(full) == no_error);
  for (std::size_t i = full / 2; i < full; ++i) VPCI_FUZZ_CHECK(buffer.span()[i] == std::byte{0});

  // Receiving into storage() and committing a length: the bytes received are the contents, none zeroed;
  // a length above N is refused with the buffer as it was.
  const std::size_t before_commit = buffer.size();
  std::array<std::byte, max_block_size> stored{};
  const std::size_t received = x.size() < stored.size() ? x.size() : stored.size();
  le::copy(x.first(received), buffer.storage().data());
  le::copy(buffer.storage(), stored.data());
  const std::size_t committed = x.size() < 2 ? received : static_cast<std::size_t>(x[1]);
  const errc c = buffer.commit(committed);
  VPCI_FUZZ_CHECK((c == no_error) == (committed <= max_block_size));
  if (c == no_error) {
    VPCI_FUZZ_CHECK(buffer.size() == committed && equal(buffer.span(), std::span{stored}.first(committed)));
  } else {
    VPCI_FUZZ_CHECK(c == errc::invalid_length && buffer.size() == before_commit &&
                    equal(buffer.span(), std::span{stored}.first(before_commit)));
  }

  auto view = block_view::make(x);
  VPCI_FUZZ_CHECK(view.has_value() == valid_block_length(x.size()));
  if (view) VPCI_FUZZ_CHECK(view->data() == x.data() && view->size() == x.size());
  else VPCI_FUZZ_CHECK(view.error() == errc::invalid_length && view->size() == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const exact_bytes input{as_bytes(data, size)};
  check_codec(input.view());
  check_buffers(input.view());
  return 0;
}
