// The standard configuration header (the first 64 bytes every PCI function has), decoded from a
// snapshot of the space. Freestanding: no heap, no exceptions, no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include <vpci/block/endian.hpp>
#include <vpci/protocol/errc.hpp>
#include <vpci/protocol/result.hpp>

namespace vpci::config {

// Register offsets of the standard header (PCI Local Bus 3.0, section 6.1).
inline constexpr std::size_t standard_header_size = 64;
inline constexpr std::size_t vendor_id_offset = 0x00;
inline constexpr std::size_t device_id_offset = 0x02;
inline constexpr std::size_t command_offset = 0x04;
inline constexpr std::size_t status_offset = 0x06;
inline constexpr std::size_t revision_id_offset = 0x08;
inline constexpr std::size_t class_code_offset = 0x09;  // 3 bytes: programming interface, subclass, base class
inline constexpr std::size_t header_type_offset = 0x0E;
inline constexpr std::size_t capabilities_pointer_offset = 0x34;
// CardBus bridges (header layout 2) keep their capability pointer at 0x14 instead.
inline constexpr std::size_t cardbus_capabilities_pointer_offset = 0x14;
inline constexpr std::uint16_t status_capabilities_list = 0x0010;  // status bit 4
// What a VF's Vendor ID register reads (PCIe SR-IOV: a VF has its PF's vendor ID, but the register reads
// 0xFFFF), as does a function that is not there.
inline constexpr std::uint16_t vf_vendor_id = 0xFFFF;

enum class header_layout : std::uint8_t { endpoint = 0, bridge = 1, cardbus_bridge = 2 };

struct standard_header {
  std::uint16_t vendor_id = 0;
  std::uint16_t device_id = 0;
  std::uint16_t command = 0;
  std::uint16_t status = 0;
  std::uint8_t revision_id = 0;
  std::uint8_t programming_interface = 0;
  std::uint8_t subclass = 0;
  std::uint8_t base_class = 0;
  std::uint8_t header_type = 0;  // bit 7: multi-function device; bits 6:0: layout
  // Raw pointer byte (bits 1:0 unmasked); meaningful only when has_capabilities_list().
  std::uint8_t capabilities_pointer = 0;

  // The 24-bit class code as lspci prints it: base class, subclass, programming interface.
  [[nodiscard]] constexpr std::uint32_t class_code() const noexcept {
    return static_cast<std::uint32_t>(base_class) << 16 | static_cast<std::uint32_t>(subclass) << 8 |
           programming_interface;
  }
  [[nodiscard]] constexpr std::uint8_t layout() const noexcept {
    return static_cast<std::uint8_t>(header_type & 0x7F);
  }
  [[nodiscard]] constexpr bool multi_function() const noexcept { return (header_type & 0x80) != 0; }
  // Layouts 0 (endpoint), 1 (bridge) and 2 (CardBus bridge) are the ones PCI defines.
  [[nodiscard]] constexpr bool known_layout() const noexcept {
    return layout() <= static_cast<std::uint8_t>(header_layout::cardbus_bridge);
  }
  [[nodiscard]] constexpr bool has_capabilities_list() const noexcept {
    return (status & status_capabilities_list) != 0;
  }
  // A vendor ID of 0xFFFF is what a read of an absent function returns.
  [[nodiscard]] constexpr bool present() const noexcept { return vendor_id != 0xFFFF && vendor_id != 0; }
};

// Where the capability pointer lives for this header layout.
[[nodiscard]] constexpr std::size_t capabilities_pointer_location(std::uint8_t header_type) noexcept {
  return (header_type & 0x7F) == static_cast<std::uint8_t>(header_layout::cardbus_bridge)
             ? cardbus_capabilities_pointer_offset
             : capabilities_pointer_offset;
}

// Decodes the standard header. A snapshot shorter than 64 bytes is errc::out_of_range: every function
// has the full header, so a shorter one is a truncated snapshot, and no field is guessed.
[[nodiscard]] constexpr result<standard_header> decode_header(std::span<const std::byte> space) noexcept {
  if (space.size() < standard_header_size) return errc::out_of_range;
  const std::byte* p = space.data();
  standard_header h;
  h.vendor_id = le::load_u16(p + vendor_id_offset);
  h.device_id = le::load_u16(p + device_id_offset);
  h.command = le::load_u16(p + command_offset);
  h.status = le::load_u16(p + status_offset);
  h.revision_id = le::load_u8(p + revision_id_offset);
  h.programming_interface = le::load_u8(p + class_code_offset);
  h.subclass = le::load_u8(p + class_code_offset + 1);
  h.base_class = le::load_u8(p + class_code_offset + 2);
  h.header_type = le::load_u8(p + header_type_offset);
  h.capabilities_pointer = le::load_u8(p + capabilities_pointer_location(h.header_type));
  return h;
}

}  // namespace vpci::config
