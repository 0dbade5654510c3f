// Config-space access rules shared by every transport (freestanding): bounds checks without overflow,
// and the split of a transfer into naturally aligned 1/2/4-byte accesses, as real config cycles are.
#pragma once

#include <cstddef>
#include <cstdint>

#include <vpci/protocol/errc.hpp>

namespace vpci::config {

inline constexpr std::size_t conventional_space_size = 256;
inline constexpr std::size_t extended_space_size = 4096;

// Checks [offset, offset + length) against a space of `space_size` bytes with no overflowing sum.
// Zero length is refused: a config access always moves at least one byte.
[[nodiscard]] constexpr errc check_access(std::size_t space_size, std::size_t offset, std::size_t length) noexcept {
  if (offset > space_size || length > space_size - offset) return errc::out_of_range;
  if (length == 0) return errc::invalid_argument;
  return no_error;
}

// The widest naturally aligned access (4, 2 or 1 bytes) that starts at `offset` and fits in `remaining`.
[[nodiscard]] constexpr std::size_t access_width(std::size_t offset, std::size_t remaining) noexcept {
  if (offset % 4 == 0 && remaining >= 4) return 4;
  if (offset % 2 == 0 && remaining >= 2) return 2;
  return 1;
}

// Calls visit(offset, width) for each naturally aligned access covering [offset, offset + length), in
// ascending order. Stops early and returns the visitor's error if it returns one.
template <class Visitor>
constexpr errc for_each_access(std::size_t offset, std::size_t length, Visitor&& visit) {
  while (length != 0) {
    const std::size_t width = access_width(offset, length);
    if (errc e = visit(offset, width); e != no_error) return e;
    offset += width;
    length -= width;
  }
  return no_error;
}

}  // namespace vpci::config
