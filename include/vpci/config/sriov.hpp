// The SR-IOV extended capability (ID 0x0010, 64 bytes): every register decoded, and the routing IDs of
// the VFs it describes. Freestanding: no heap, no I/O.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include <vpci/block/endian.hpp>
#include <vpci/config/capabilities.hpp>
#include <vpci/protocol/errc.hpp>
#include <vpci/protocol/result.hpp>

namespace vpci::config {

inline constexpr std::size_t sriov_capability_size = 64;

// Register offsets inside the capability (PCIe base spec, SR-IOV chapter).
namespace sriov_register {
inline constexpr std::size_t capabilities = 0x04;
inline constexpr std::size_t control = 0x08;
inline constexpr std::size_t status = 0x0A;
inline constexpr std::size_t initial_vfs = 0x0C;
inline constexpr std::size_t total_vfs = 0x0E;
inline constexpr std::size_t num_vfs = 0x10;
inline constexpr std::size_t function_dependency_link = 0x12;
inline constexpr std::size_t first_vf_offset = 0x14;
inline constexpr std::size_t vf_stride = 0x16;
inline constexpr std::size_t vf_device_id = 0x1A;
inline constexpr std::size_t supported_page_sizes = 0x1C;
inline constexpr std::size_t system_page_size = 0x20;
inline constexpr std::size_t vf_bar0 = 0x24;  // six dwords, to 0x3B
inline constexpr std::size_t vf_migration_state_array_offset = 0x3C;
}  // namespace sriov_register

namespace sriov_control {
inline constexpr std::uint16_t vf_enable = 0x0001;
inline constexpr std::uint16_t vf_migration_enable = 0x0002;
inline constexpr std::uint16_t vf_migration_interrupt_enable = 0x0004;
inline constexpr std::uint16_t vf_memory_space_enable = 0x0008;
inline constexpr std::uint16_t ari_capable_hierarchy = 0x0010;
inline constexpr std::uint16_t vf_10bit_tag_requester_enable = 0x0020;
}  // namespace sriov_control

namespace sriov_capabilities {
inline constexpr std::uint32_t vf_migration_capable = 0x00000001;
inline constexpr std::uint32_t ari_capable_hierarchy_preserved = 0x00000002;
inline constexpr std::uint32_t vf_10bit_tag_requester_supported = 0x00000004;
}  // namespace sriov_capabilities

// VF Migration State Array Offset (0x3C): bits 2:0 are the BAR indicator, the rest the offset.
inline constexpr std::uint32_t vf_migration_state_bir_mask = 0x00000007;

// A 16-bit PCI routing ID: bus 15:8, device 7:3, function 2:0 (with ARI, function 7:0 and device 0).
struct routing_id {
  std::uint16_t value = 0;

  [[nodiscard]] static constexpr routing_id from(std::uint8_t bus, std::uint8_t device, std::uint8_t function) noexcept {
    return {static_cast<std::uint16_t>(bus << 8 | (device & 0x1F) << 3 | (function & 0x7))};
  }
  [[nodiscard]] constexpr std::uint8_t bus() const noexcept { return static_cast<std::uint8_t>(value >> 8); }
  [[nodiscard]] constexpr std::uint8_t device() const noexcept { return static_cast<std::uint8_t>((value >> 3) & 0x1F); }
  [[nodiscard]] constexpr std::uint8_t function() const noexcept { return static_cast<std::uint8_t>(value & 0x7); }
  [[nodiscard]] constexpr std::uint8_t devfn() const noexcept { return static_cast<std::uint8_t>(value & 0xFF); }
  friend constexpr bool operator==(routing_id, routing_id) = default;
};

struct sriov_capability {
  std::uint16_t offset = 0;  // of the extended capability header
  std::uint8_t version = 0;
  std::uint32_t capabilities = 0;
  std::uint16_t control = 0;
  std::uint16_t status = 0;
  std::uint16_t initial_vfs = 0;
  std::uint16_t total_vfs = 0;
  std::uint16_t num_vfs = 0;
  std::uint8_t function_dependency_link = 0;
  std::uint16_t first_vf_offset = 0;
  std::uint16_t vf_stride = 0;
  std::uint16_t vf_device_id = 0;
  std::uint32_t supported_page_sizes = 0;
  std::uint32_t system_page_size = 0;
  std::array<std::uint32_t, 6> vf_bars{};
  std::uint32_t vf_migration_state_array_offset = 0;

  [[nodiscard]] constexpr bool vf_enable() const noexcept { return (control & sriov_control::vf_enable) != 0; }
  [[nodiscard]] constexpr bool vf_memory_space_enable() const noexcept {
    return (control & sriov_control::vf_memory_space_enable) != 0;
  }
  // Set by software when the PF is in an ARI-capable hierarchy: VF routing IDs then use all 8 devfn bits
  // as the function number, and First VF Offset / VF Stride are chosen for that.
  [[nodiscard]] constexpr bool ari_capable_hierarchy() const noexcept {
    return (control & sriov_control::ari_capable_hierarchy) != 0;
  }
  [[nodiscard]] constexpr bool vf_migration_capable() const noexcept {
    return (capabilities & sriov_capabilities::vf_migration_capable) != 0;
  }
  // VF Migration Interrupt Message Number, capabilities bits 31:21.
  [[nodiscard]] constexpr std::uint16_t vf_migration_interrupt_message_number() const noexcept {
    return static_cast<std::uint16_t>(capabilities >> 21);
  }
  // Values the spec does not allow; the decode keeps them so that a tool can show what the device says.
  [[nodiscard]] constexpr bool num_vfs_exceeds_total_vfs() const noexcept { return num_vfs > total_vfs; }
  [[nodiscard]] constexpr bool zero_stride_with_multiple_vfs() const noexcept { return vf_stride == 0 && num_vfs > 1; }
  // VF 0 would be the PF itself (Linux refuses such a PF: compute_max_vf_buses in drivers/pci/iov.c).
  [[nodiscard]] constexpr bool zero_first_vf_offset() const noexcept { return first_vf_offset == 0 && num_vfs > 0; }
  // errc::malformed_message if any flag above is set, else no_error.
  [[nodiscard]] constexpr errc validate() const noexcept {
    if (num_vfs_exceeds_total_vfs() || zero_stride_with_multiple_vfs() || zero_first_vf_offset())
      return errc::malformed_message;
    return no_error;
  }
};

// Decodes the 64-byte SR-IOV capability whose header is at `offset`. errc::out_of_range when the snapshot
// ends inside it; errc::not_found when the header there is not an SR-IOV header.
[[nodiscard]] constexpr result<sriov_capability> decode_sriov(std::span<const std::byte> space,
                                                              std::size_t offset) noexcept {
  if (offset > space.size() || space.size() - offset < sriov_capability_size) return errc::out_of_range;
  const std::byte* p = space.data() + offset;
  const extended_capability header = decode_extended_header(le::load_u32(p), static_cast<std::uint16_t>(offset));
  if (header.id != extended_capability_id::sriov) return errc::not_found;
  namespace r = sriov_register;
  sriov_capability c;
  c.offset = static_cast<std::uint16_t>(offset);
  c.version = header.version;
  c.capabilities = le::load_u32(p + r::capabilities);
  c.control = le::load_u16(p + r::control);
  c.status = le::load_u16(p + r::status);
  c.initial_vfs = le::load_u16(p + r::initial_vfs);
  c.total_vfs = le::load_u16(p + r::total_vfs);
  c.num_vfs = le::load_u16(p + r::num_vfs);
  c.function_dependency_link = le::load_u8(p + r::function_dependency_link);
  c.first_vf_offset = le::load_u16(p + r::first_vf_offset);
  c.vf_stride = le::load_u16(p + r::vf_stride);
  c.vf_device_id = le::load_u16(p + r::vf_device_id);
  c.supported_page_sizes = le::load_u32(p + r::supported_page_sizes);
  c.system_page_size = le::load_u32(p + r::system_page_size);
  for (std::size_t i = 0; i < c.vf_bars.size(); ++i) c.vf_bars[i] = le::load_u32(p + r::vf_bar0 + 4 * i);
  c.vf_migration_state_array_offset = le::load_u32(p + r::vf_migration_state_array_offset);
  return c;
}

// Finds the SR-IOV capability in the extended list and decodes it. errc::not_found if there is none.
[[nodiscard]] constexpr result<sriov_capability> find_sriov(std::span<const std::byte> space) noexcept {
  auto found = find_extended_capability(space, extended_capability_id::sriov);
  if (!found) return found.error();
  return decode_sriov(space, found->offset);
}

// The routing ID of VF n (0-based): (PF routing ID) + First VF Offset + n * VF Stride, which may carry
// into the bus number. Errors: errc::not_found when n >= NumVFs; errc::malformed_message when the First
// VF Offset is 0 (VF 0 would be the PF) or when n > 0 and the stride is 0 (two VFs would share one ID);
// errc::out_of_range when the sum passes 0xFFFF (no bus above 255 to land on).
[[nodiscard]] constexpr result<routing_id> vf_routing_id(routing_id pf, const sriov_capability& sriov,
                                                         std::uint16_t n) noexcept {
  if (n >= sriov.num_vfs) return errc::not_found;
  if (sriov.first_vf_offset == 0 || (n > 0 && sriov.vf_stride == 0)) return errc::malformed_message;
  const std::uint32_t rid = std::uint32_t{pf.value} + sriov.first_vf_offset + std::uint32_t{n} * sriov.vf_stride;
  if (rid > 0xFFFF) return errc::out_of_range;
  return routing_id{static_cast<std::uint16_t>(rid)};
}

}  // namespace vpci::config
