// vpci::block_id and vpci::block_mask: block identities and the 64-bit invalidation mask.
#pragma once

#include <bit>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <initializer_list>

#include <vpci/protocol/constants.hpp>
#include <vpci/protocol/result.hpp>

namespace vpci {

// A block ID as the protocol carries it: any 32-bit value (ULONG BlockId). Only IDs below
// invalidatable_block_count can appear in an invalidation mask.
class block_id {
 public:
  constexpr block_id() noexcept = default;
  constexpr explicit block_id(std::uint32_t value) noexcept : value_(value) {}
  [[nodiscard]] constexpr std::uint32_t value() const noexcept { return value_; }
  [[nodiscard]] constexpr bool invalidatable() const noexcept { return value_ < invalidatable_block_count; }
  friend constexpr auto operator<=>(block_id, block_id) noexcept = default;

 private:
  std::uint32_t value_{0};
};

// The UINT64 BlockMask of VPCI_INVALIDATE_BLOCK_OUTPUT: bit i stands for block i.
class block_mask {
 public:
  constexpr block_mask() noexcept = default;
  constexpr explicit block_mask(std::uint64_t bits) noexcept : bits_(bits) {}

  [[nodiscard]] static constexpr block_mask all() noexcept { return block_mask{~std::uint64_t{0}}; }

  // Builds a mask from IDs; an ID >= 64 rejects the whole set.
  [[nodiscard]] static constexpr result<block_mask> of(std::initializer_list<block_id> ids) noexcept {
    block_mask mask;
    for (block_id id : ids) {
      if (auto e = mask.set(id); e != no_error) return e;
    }
    return mask;
  }

  [[nodiscard]] constexpr std::uint64_t bits() const noexcept { return bits_; }
  [[nodiscard]] constexpr bool empty() const noexcept { return bits_ == 0; }
  [[nodiscard]] constexpr int count() const noexcept { return std::popcount(bits_); }

  // Sets the bit of `id`. An ID >= 64 leaves the mask unchanged and returns invalid_block_id.
  [[nodiscard]] constexpr errc set(block_id id) noexcept {
    if (!id.invalidatable()) return errc::invalid_block_id;
    bits_ |= bit_of(id);
    return no_error;
  }
  [[nodiscard]] constexpr errc reset(block_id id) noexcept {
    if (!id.invalidatable()) return errc::invalid_block_id;
    bits_ &= ~bit_of(id);
    return no_error;
  }
  // An ID >= 64 is never in a mask.
  [[nodiscard]] constexpr bool test(block_id id) const noexcept {
    return id.invalidatable() && (bits_ & bit_of(id)) != 0;
  }

  // Coalescing: the virtualization stack ORs each new mask into the cached one.
  constexpr block_mask& merge(block_mask other) noexcept {
    bits_ |= other.bits_;
    return *this;
  }
  constexpr block_mask& operator|=(block_mask other) noexcept { return merge(other); }
  friend constexpr block_mask operator|(block_mask a, block_mask b) noexcept { return a.merge(b); }
  friend constexpr block_mask operator&(block_mask a, block_mask b) noexcept { return block_mask{a.bits_ & b.bits_}; }
  friend constexpr bool operator==(block_mask, block_mask) noexcept = default;

  // Iterates the set bits in ascending block order.
  class iterator {
   public:
    using value_type = block_id;
    using difference_type = std::ptrdiff_t;
    constexpr iterator() noexcept = default;
    constexpr explicit iterator(std::uint64_t rest) noexcept : rest_(rest) {}
    constexpr block_id operator*() const noexcept {
      return block_id{static_cast<std::uint32_t>(std::countr_zero(rest_))};
    }
    constexpr iterator& operator++() noexcept {
      rest_ &= rest_ - 1;  // clear the lowest set bit
      return *this;
    }
    constexpr iterator operator++(int) noexcept {
      iterator old = *this;
      ++*this;
      return old;
    }
    friend constexpr bool operator==(iterator, iterator) noexcept = default;

   private:
    std::uint64_t rest_{0};
  };
  [[nodiscard]] constexpr iterator begin() const noexcept { return iterator{bits_}; }
  [[nodiscard]] constexpr iterator end() const noexcept { return iterator{}; }

 private:
  static constexpr std::uint64_t bit_of(block_id id) noexcept { return std::uint64_t{1} << id.value(); }
  std::uint64_t bits_{0};
};

}  // namespace vpci
