// Protocol constants of the SR-IOV configuration-block backchannel (vpci.h, pcivirt.h, ntddndis.h).
#pragma once

#include <vpci/protocol/cxx20.hpp>

#include <cstddef>
#include <cstdint>

namespace vpci {

// VPCI_MAX_READ_WRITE_BLOCK_SIZE: the largest block a single read or write moves, itself included, as
// vpci.h's VPCI_READ_BLOCK page has it ("must not exceed"); pcivirt.h annotates the PF side's
// SRIOV_READ_BLOCK/SRIOV_WRITE_BLOCK Length `_In_range_(<, VPCI_MAX_READ_WRITE_BLOCK_SIZE)`, which would
// leave 128 out. vpci takes 1..128 on both sides: the VF's callers may ask for 128.
inline constexpr std::size_t max_block_size = 128;

// The invalidation mask is a UINT64: only blocks 0..63 can be invalidated.
inline constexpr std::uint32_t invalidatable_block_count = 64;

// SRIOV_INVALIDATE_BLOCK_ALL_VFS: the VF index meaning "every VF" in IOCTL_SRIOV_INVALIDATE_BLOCK.
inline constexpr std::uint16_t invalidate_block_all_vfs = 0xFFFF;

// NDIS_SRIOV_FUNCTION_ID is a USHORT; NDIS_PF_FUNCTION_ID names the PF itself.
using ndis_function_id = std::uint16_t;
inline constexpr ndis_function_id ndis_pf_function_id = 0xFFFF;

// CTL_CODE building blocks (devioctl.h).
namespace ioctl_method {
inline constexpr std::uint32_t buffered = 0;
inline constexpr std::uint32_t in_direct = 1;
inline constexpr std::uint32_t out_direct = 2;
inline constexpr std::uint32_t neither = 3;
}  // namespace ioctl_method

namespace ioctl_access {
inline constexpr std::uint32_t any = 0;
inline constexpr std::uint32_t read = 1;   // FILE_READ_ACCESS (= FILE_READ_DATA)
inline constexpr std::uint32_t write = 2;  // FILE_WRITE_ACCESS
}  // namespace ioctl_access

namespace device_type {
inline constexpr std::uint32_t unknown = 0x22;
inline constexpr std::uint32_t bus_extender = 0x2A;  // FILE_DEVICE_VPCI
inline constexpr std::uint32_t vpci = bus_extender;
}  // namespace device_type

// CTL_CODE(DeviceType, Function, Method, Access). Arguments wider than their fields are masked the
// way the macro's shifts would place them, so a constant expression can never overflow into another field.
constexpr std::uint32_t ctl_code(std::uint32_t device_type, std::uint32_t function, std::uint32_t method,
                                 std::uint32_t access) noexcept {
  return ((device_type & 0xFFFFu) << 16) | ((access & 0x3u) << 14) | ((function & 0xFFFu) << 2) | (method & 0x3u);
}

namespace ioctl {
inline constexpr std::uint32_t invalidate_block =
    ctl_code(device_type::vpci, 1, ioctl_method::neither, ioctl_access::read | ioctl_access::write);
inline constexpr std::uint32_t read_block =
    ctl_code(device_type::vpci, 2, ioctl_method::neither, ioctl_access::read | ioctl_access::write);
inline constexpr std::uint32_t write_block =
    ctl_code(device_type::vpci, 3, ioctl_method::neither, ioctl_access::read | ioctl_access::write);
// pcivirt.h, PF side: tells the virtualization stack to invalidate blocks of one VF (or all VFs).
inline constexpr std::uint32_t sriov_invalidate_block =
    ctl_code(device_type::unknown, 0x815, ioctl_method::buffered, ioctl_access::read);
}  // namespace ioctl

namespace oid {
inline constexpr std::uint32_t sriov_read_vf_config_space = 0x00010251;
inline constexpr std::uint32_t sriov_write_vf_config_space = 0x00010252;
inline constexpr std::uint32_t sriov_read_vf_config_block = 0x00010253;
inline constexpr std::uint32_t sriov_write_vf_config_block = 0x00010254;
inline constexpr std::uint32_t sriov_vf_invalidate_config_block = 0x00010269;
}  // namespace oid

// GUID_VPCI_INTERFACE_STANDARD {12E65E71-B651-4067-831A-1383203CB0CB}, in Windows GUID field order.
struct guid {
  std::uint32_t data1;
  std::uint16_t data2;
  std::uint16_t data3;
  std::uint8_t data4[8];
};
inline constexpr guid guid_vpci_interface_standard{
    0x12E65E71, 0xB651, 0x4067, {0x83, 0x1A, 0x13, 0x83, 0x20, 0x3C, 0xB0, 0xCB}};

}  // namespace vpci
