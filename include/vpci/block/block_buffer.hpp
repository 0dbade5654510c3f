// Size-checked block storage: block_buffer<N> owns up to N bytes; block_view / mutable_block_view
// check caller memory once at the boundary (1..max_block_size bytes) and carry that in their type.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include <vpci/block/endian.hpp>
#include <vpci/protocol/constants.hpp>
#include <vpci/protocol/result.hpp>

namespace vpci {

// True when `length` is a length a single block read or write may carry (1..128).
[[nodiscard]] constexpr bool valid_block_length(std::size_t length) noexcept {
  return length != 0 && length <= max_block_size;
}

template <std::size_t N = max_block_size>
class block_buffer {
  static_assert(N >= 1, "vpci::block_buffer<N>: N must be at least 1 byte");
  static_assert(N <= max_block_size,
                "vpci::block_buffer<N>: N exceeds vpci::max_block_size (128 bytes, VPCI_MAX_READ_WRITE_BLOCK_SIZE)");

 public:
  static constexpr std::size_t capacity_bytes = N;

  constexpr block_buffer() noexcept = default;

  [[nodiscard]] static constexpr std::size_t capacity() noexcept { return N; }
  [[nodiscard]] constexpr std::size_t size() const noexcept { return size_; }
  [[nodiscard]] constexpr bool empty() const noexcept { return size_ == 0; }
  [[nodiscard]] constexpr std::byte* data() noexcept { return bytes_.data(); }
  [[nodiscard]] constexpr const std::byte* data() const noexcept { return bytes_.data(); }
  [[nodiscard]] constexpr std::span<std::byte> span() noexcept { return {bytes_.data(), size_}; }
  [[nodiscard]] constexpr std::span<const std::byte> span() const noexcept { return {bytes_.data(), size_}; }
  // The whole capacity, for receiving into: then commit(n) makes the first n bytes received the contents.
  // (resize() would zero what it adds past the old length, the received bytes among them.)
  [[nodiscard]] constexpr std::span<std::byte> storage() noexcept { return bytes_; }

  // New length; bytes past the old length are zero. Above N: invalid_length, unchanged.
  [[nodiscard]] constexpr errc resize(std::size_t length) noexcept {
    if (length > N) return errc::invalid_length;
    for (std::size_t i = 0; i < N; ++i)  // over all N: see the note on bytes_
      if (i >= size_ && i < length) bytes_[i] = std::byte{0};
    size_ = length;
    return no_error;
  }
  // New length; the first `length` bytes of storage() are the contents as they are (bytes received into
  // storage() are kept, nothing is zeroed). Above N: invalid_length, unchanged.
  [[nodiscard]] constexpr errc commit(std::size_t length) noexcept {
    if (length > N) return errc::invalid_length;
    size_ = length;
    return no_error;
  }
  // Copies `bytes` in. Above N: invalid_length, unchanged.
  [[nodiscard]] constexpr errc assign(std::span<const std::byte> bytes) noexcept {
    if (bytes.size() > N) return errc::invalid_length;
    le::copy(bytes, bytes_.data());
    size_ = bytes.size();
    return no_error;
  }
  constexpr void clear() noexcept { size_ = 0; }

  friend constexpr bool operator==(const block_buffer& a, const block_buffer& b) noexcept {
    if (a.size_ != b.size_) return false;
    for (std::size_t i = 0; i < N; ++i)  // over all N: see the note on bytes_
      if (i < a.size_ && a.bytes_[i] != b.bytes_[i]) return false;
    return true;
  }

 private:
  // The length first: it shares a cache line with whatever precedes the buffer in an object, so setting
  // or reading it leaves the bytes' lines alone.
  std::size_t size_{0};
  // Loops over the bytes run to N, not to a length known only at run time. g++ 12 at -O2 splits such a
  // loop out of its function, and its identical code folding then merges the copies for different N,
  // keeping one N's array type on the merged access. Inlined where N is larger, that smaller bound made
  // the loop's exit unreachable: block<1, T>::to_buffer of an 11-byte T compiled to an endless loop, and
  // -Warray-bounds fired on block_buffer<6> for index 8. A loop to N differs for each N and is not merged.
  std::array<std::byte, N> bytes_{};
};

namespace detail {
template <class Byte>
class checked_block_view {
 public:
  constexpr checked_block_view() noexcept = default;

  // 0 bytes or more than max_block_size: invalid_length.
  [[nodiscard]] static constexpr result<checked_block_view> make(std::span<Byte> bytes) noexcept {
    if (!valid_block_length(bytes.size())) return errc::invalid_length;
    return checked_block_view{bytes};
  }
  [[nodiscard]] constexpr std::span<Byte> bytes() const noexcept { return bytes_; }
  [[nodiscard]] constexpr std::size_t size() const noexcept { return bytes_.size(); }
  [[nodiscard]] constexpr Byte* data() const noexcept { return bytes_.data(); }

 private:
  constexpr explicit checked_block_view(std::span<Byte> bytes) noexcept : bytes_(bytes) {}
  std::span<Byte> bytes_{};
};
}  // namespace detail

// A read-only view of 1..128 bytes of caller memory.
using block_view = detail::checked_block_view<const std::byte>;
// A writable view of 1..128 bytes of caller memory (a read destination).
using mutable_block_view = detail::checked_block_view<std::byte>;

}  // namespace vpci
