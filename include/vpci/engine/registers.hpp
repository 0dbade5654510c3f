// Register-write lists the mailbox engines hand to their binding (freestanding, fixed capacity).
#pragma once

#include <vpci/protocol/cxx20.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace vpci::engine {

// One write the binding performs at `offset` of the mailbox window, in list order.
struct register_write {
  std::uint16_t offset{0};
  std::span<const std::byte> bytes{};
};

// An ordered list of writes; the order is part of the protocol (e.g. the sequence register last).
template <std::size_t Capacity>
class register_write_list {
 public:
  constexpr void clear() noexcept { count_ = 0; }
  // Capacity is sized for the longest sequence an engine emits, so an overflow is an engine bug.
  constexpr bool push(std::uint16_t offset, std::span<const std::byte> bytes) noexcept {
    if (count_ == Capacity) return false;
    writes_[count_++] = register_write{offset, bytes};
    return true;
  }
  [[nodiscard]] constexpr std::size_t size() const noexcept { return count_; }
  [[nodiscard]] constexpr bool empty() const noexcept { return count_ == 0; }
  [[nodiscard]] constexpr const register_write* begin() const noexcept { return writes_.data(); }
  [[nodiscard]] constexpr const register_write* end() const noexcept { return writes_.data() + count_; }
  [[nodiscard]] constexpr const register_write& operator[](std::size_t i) const noexcept { return writes_[i]; }

 private:
  std::size_t count_{0};  // first: clearing and pushing then share the first entries' cache line
  std::array<register_write, Capacity> writes_{};
};

}  // namespace vpci::engine
