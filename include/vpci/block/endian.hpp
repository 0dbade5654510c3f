// Little-endian load/store of unsigned integers: the same bytes on every host. Byte by byte in constant
// expressions and on big-endian hosts; one word access elsewhere (a 4-byte register is one load or store,
// which firmware footprint and host speed both want).
#pragma once

#include <vpci/protocol/cxx20.hpp>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>

namespace vpci::le {

template <class U>
  requires std::is_unsigned_v<U>
constexpr void store(std::byte* out, U value) noexcept {
  if (!std::is_constant_evaluated() && std::endian::native == std::endian::little) {
    __builtin_memcpy(out, &value, sizeof(U));
    return;
  }
  for (std::size_t i = 0; i < sizeof(U); ++i) {
    out[i] = static_cast<std::byte>(static_cast<std::uint8_t>(value >> (8 * i)));
  }
}

template <class U>
  requires std::is_unsigned_v<U>
[[nodiscard]] constexpr U load(const std::byte* in) noexcept {
  if (!std::is_constant_evaluated() && std::endian::native == std::endian::little) {
    U word;
    __builtin_memcpy(&word, in, sizeof(U));
    return word;
  }
  U value = 0;
  for (std::size_t i = 0; i < sizeof(U); ++i) {
    value = static_cast<U>(value | static_cast<U>(static_cast<U>(in[i]) << (8 * i)));
  }
  return value;
}

constexpr void store_u8(std::byte* out, std::uint8_t v) noexcept { store(out, v); }
constexpr void store_u16(std::byte* out, std::uint16_t v) noexcept { store(out, v); }
constexpr void store_u32(std::byte* out, std::uint32_t v) noexcept { store(out, v); }
constexpr void store_u64(std::byte* out, std::uint64_t v) noexcept { store(out, v); }
[[nodiscard]] constexpr std::uint8_t load_u8(const std::byte* in) noexcept { return load<std::uint8_t>(in); }
[[nodiscard]] constexpr std::uint16_t load_u16(const std::byte* in) noexcept { return load<std::uint16_t>(in); }
[[nodiscard]] constexpr std::uint32_t load_u32(const std::byte* in) noexcept { return load<std::uint32_t>(in); }
[[nodiscard]] constexpr std::uint64_t load_u64(const std::byte* in) noexcept { return load<std::uint64_t>(in); }

// Bounds-free copy usable in constant expressions and without <cstring> in the freestanding core. `to`
// may overlap `from` when it is not above it (the block store moves regions down). On a host the
// compiler's memmove: a byte loop at -O2 (what Debian and RelWithDebInfo build with) cost a fifth of an
// in-process block read, which copies each answer twice. Freestanding, and in constant expressions, the
// byte loop: memmove would be linked into firmware for it, hundreds of bytes of flash.
constexpr void copy(std::span<const std::byte> from, std::byte* to) noexcept {
#if __STDC_HOSTED__
  if (!std::is_constant_evaluated()) {
    // A zero length may come with null pointers, which memmove must not be given.
    if (!from.empty()) __builtin_memmove(to, from.data(), from.size());
    return;
  }
#endif
  for (std::size_t i = 0; i < from.size(); ++i) to[i] = from[i];
}

}  // namespace vpci::le
