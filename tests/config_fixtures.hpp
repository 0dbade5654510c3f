// Synthesized config spaces for the config-model tests, written field by field from the spec's layout.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include <vpci/block/endian.hpp>
#include <vpci/config/capabilities.hpp>

namespace vpci::test {

class config_image {
 public:
  // A PCIe endpoint: vendor/device set, no capabilities, an empty extended list.
  config_image(std::uint16_t vendor = 0x8086, std::uint16_t device = 0x1572) {
    put16(0x00, vendor);
    put16(0x02, device);
  }

  void put8(std::size_t at, std::uint8_t v) { le::store_u8(bytes_.data() + at, v); }
  void put16(std::size_t at, std::uint16_t v) { le::store_u16(bytes_.data() + at, v); }
  void put32(std::size_t at, std::uint32_t v) { le::store_u32(bytes_.data() + at, v); }
  [[nodiscard]] std::uint32_t get32(std::size_t at) const { return le::load_u32(bytes_.data() + at); }

  // Sets status bit 4 and the capability pointer.
  void capability_pointer(std::uint8_t pointer) {
    put16(0x06, 0x0010);
    put8(0x34, pointer);
  }
  void standard_capability(std::uint8_t at, std::uint8_t id, std::uint8_t next) {
    put8(at, id);
    put8(static_cast<std::size_t>(at) + 1, next);
  }
  void extended_capability(std::uint16_t at, std::uint16_t id, std::uint8_t version, std::uint16_t next) {
    put32(at, config::encode_extended_header(id, version, next));
  }

  [[nodiscard]] std::span<const std::byte> view(std::size_t size = 4096) const { return std::span{bytes_}.first(size); }
  [[nodiscard]] std::span<std::byte> span(std::size_t size = 4096) { return std::span{bytes_}.first(size); }
  [[nodiscard]] const std::array<std::byte, 4096>& bytes() const { return bytes_; }

 private:
  std::array<std::byte, 4096> bytes_{};
};

}  // namespace vpci::test
