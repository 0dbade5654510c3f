// The block payload of the block_codec fuzz target and its seeds: one field of every kind the wire
// layout supports (block/layout.hpp), packed in this order with no padding.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include <vpci/block/block.hpp>

namespace vpci::fuzz {

enum class color : std::int16_t { red = -1, green = 2 };
enum plain : std::uint8_t { plain_a, plain_b };

struct inner {
  std::uint32_t word;
  bool flag;
  std::array<std::byte, 2> raw;
  friend constexpr auto vpci_fields(type_tag<inner>) { return fields(&inner::word, &inner::flag, &inner::raw); }
};

struct every_kind {
  std::uint8_t u8;
  std::int8_t i8;
  std::uint16_t u16;
  std::int16_t i16;
  std::uint32_t u32;
  std::int32_t i32;
  std::uint64_t u64;
  std::int64_t i64;
  char c;
  char16_t c16;
  bool flag;
  std::byte raw;
  color col;
  plain pl;
  float f;
  double d;
  std::array<std::uint16_t, 3> arr;
  bool flags[2];
  inner nested;
  std::array<inner, 2> nested_array;
  std::int32_t grid[2][2];
  friend constexpr auto vpci_fields(type_tag<every_kind>) {
    return fields(&every_kind::u8, &every_kind::i8, &every_kind::u16, &every_kind::i16, &every_kind::u32,
                  &every_kind::i32, &every_kind::u64, &every_kind::i64, &every_kind::c, &every_kind::c16,
                  &every_kind::flag, &every_kind::raw, &every_kind::col, &every_kind::pl, &every_kind::f,
                  &every_kind::d, &every_kind::arr, &every_kind::flags, &every_kind::nested,
                  &every_kind::nested_array, &every_kind::grid);
  }
};

using every_block = block<7, every_kind>;
static_assert(every_block::size == 95);

// Offsets of the bool bytes, from the packed field order.
inline constexpr std::array<std::size_t, 6> bool_offsets{33, 56, 57, 62, 69, 76};

}  // namespace vpci::fuzz
