// Shared by the libFuzzer targets: invariant checks that abort with a message (libFuzzer then saves the
// input as a crash), exact-size heap copies so that AddressSanitizer reports a read one byte past an input,
// a reader that takes structured values from the front of a fuzz input, buffers pre-filled with a
// sentinel so that a target can tell which bytes an encoder wrote, and the count of open descriptors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <span>

#include <dirent.h>

#include <vpci/protocol/errc.hpp>
#include <vpci/protocol/result.hpp>

// Not assert(): the check must hold in every build type, NDEBUG included.
#define VPCI_FUZZ_CHECK(condition) \
  ((condition) ? static_cast<void>(0) : ::vpci::fuzz::invariant_broken(#condition, __FILE__, __LINE__))

namespace vpci::fuzz {

[[noreturn]] inline void invariant_broken(const char* condition, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: invariant broken: %s\n", file, line, condition);
  std::fflush(stderr);
  std::abort();
}

inline std::span<const std::byte> as_bytes(const std::uint8_t* data, std::size_t size) noexcept {
  return {reinterpret_cast<const std::byte*>(data), size};
}

// A heap block of exactly `size` bytes holding a copy of the input (new[] of 0 bytes for an empty one):
// AddressSanitizer reports any read past its end, which a view into a larger buffer would hide.
class exact_bytes {
 public:
  explicit exact_bytes(std::span<const std::byte> from) : bytes_(new std::byte[from.size()]), size_(from.size()) {
    for (std::size_t i = 0; i < size_; ++i) bytes_[i] = from[i];
  }
  [[nodiscard]] std::span<const std::byte> view() const noexcept { return {bytes_.get(), size_}; }
  [[nodiscard]] std::span<std::byte> span() noexcept { return {bytes_.get(), size_}; }

 private:
  std::unique_ptr<std::byte[]> bytes_;
  std::size_t size_;
};

// True when `inner` lies inside `outer`; an empty span is inside anything.
inline bool within(std::span<const std::byte> inner, std::span<const std::byte> outer) noexcept {
  if (inner.empty()) return true;
  const std::less_equal<const std::byte*> not_after;
  return not_after(outer.data(), inner.data()) && not_after(inner.data() + inner.size(), outer.data() + outer.size());
}

inline bool equal(std::span<const std::byte> a, std::span<const std::byte> b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i] != b[i]) return false;
  return true;
}

// Takes little-endian values from the front of a fuzz input; past its end every value is zero, so any
// input is a valid sequence of values.
class input_reader {
 public:
  explicit input_reader(std::span<const std::byte> input) noexcept : rest_(input) {}

  std::uint8_t u8() noexcept {
    if (rest_.empty()) return 0;
    const auto v = static_cast<std::uint8_t>(rest_[0]);
    rest_ = rest_.subspan(1);
    return v;
  }
  std::uint16_t u16() noexcept { return static_cast<std::uint16_t>(u8() | u8() << 8); }
  std::uint32_t u32() noexcept { return static_cast<std::uint32_t>(u16() | std::uint32_t{u16()} << 16); }
  std::uint64_t u64() noexcept { return u32() | std::uint64_t{u32()} << 32; }
  // Up to n bytes (fewer at the end of the input).
  std::span<const std::byte> take(std::size_t n) noexcept {
    const std::size_t k = n < rest_.size() ? n : rest_.size();
    auto taken = rest_.first(k);
    rest_ = rest_.subspan(k);
    return taken;
  }
  [[nodiscard]] std::span<const std::byte> rest() const noexcept { return rest_; }
  [[nodiscard]] bool empty() const noexcept { return rest_.empty(); }

 private:
  std::span<const std::byte> rest_;
};

// An output buffer of `size` bytes filled with a sentinel, to check that an encoder writes exactly the
// bytes it reports and nothing when it refuses.
class sentinel_buffer {
 public:
  static constexpr std::byte sentinel{0xA5};
  explicit sentinel_buffer(std::size_t size) : bytes_(new std::byte[size]), size_(size) {
    for (std::size_t i = 0; i < size_; ++i) bytes_[i] = sentinel;
  }
  [[nodiscard]] std::span<std::byte> span() noexcept { return {bytes_.get(), size_}; }
  [[nodiscard]] std::span<const std::byte> view() const noexcept { return {bytes_.get(), size_}; }
  // True when no byte from `from` on was written (still the sentinel).
  [[nodiscard]] bool untouched_from(std::size_t from) const noexcept {
    for (std::size_t i = from; i < size_; ++i)
      if (bytes_[i] != sentinel) return false;
    return true;
  }

 private:
  std::unique_ptr<std::byte[]> bytes_;
  std::size_t size_;
};

// How many descriptors the process has open (/proc/self/fd): a target that passes or receives descriptors
// compares it before and after an input, so that a leaked one is a failure.
inline std::size_t open_descriptors() {
  std::size_t n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (::readdir(d) != nullptr) ++n;
    ::closedir(d);
  }
  return n;
}

// A refused decode carries no value: reading it yields a default T (result.hpp's promise).
template <class T>
bool refused_cleanly(const result<T>& r) {
  return r.has_value() || r.value() == T{};
}

template <class... E>
bool one_of(errc e, E... allowed) noexcept {
  return ((e == allowed) || ...);
}

}  // namespace vpci::fuzz
