// The config-space mailbox register window (binding 1), layout version 1. docs/protocol.md is the
// specification; this header is its byte-exact mirror. Offsets are from the start of the VSEC that
// holds the window (its extended capability header). All registers are little-endian dwords.
#pragma once

#include <cstddef>
#include <cstdint>

#include <vpci/protocol/constants.hpp>

namespace vpci::mailbox {

inline constexpr std::uint16_t vsec_id = 0x5650;       // "VP": identifies a vpci mailbox VSEC
inline constexpr std::uint8_t vsec_revision = 1;
inline constexpr std::uint32_t magic = 0x49435056;     // "VPCI" in little-endian bytes
inline constexpr std::uint16_t layout_version = 1;

// Capability bits of the identification register.
namespace capability {
inline constexpr std::uint16_t invalidation = 0x0001;  // latched invalidation mask + acknowledgement
inline constexpr std::uint16_t generation = 0x0002;    // seqlock generation counter
}  // namespace capability
inline constexpr std::uint16_t capabilities = capability::invalidation | capability::generation;

// Register offsets.
namespace reg {
inline constexpr std::uint16_t ext_header = 0x00;       // PCIe extended capability header (id 0x000B)
inline constexpr std::uint16_t vsec_header = 0x04;      // VSEC ID 15:0, revision 19:16, length 31:20
inline constexpr std::uint16_t magic = 0x08;            // RO "VPCI"
inline constexpr std::uint16_t version = 0x0C;          // RO layout version 15:0, capabilities 31:16
inline constexpr std::uint16_t limits = 0x10;           // RO max block size 15:0, data window size 31:16
inline constexpr std::uint16_t control = 0x14;          // VF sets bit 0 (reset); PF clears it when done
// Request area: written by the VF, sequence last.
inline constexpr std::uint16_t request_operation = 0x18;  // operation 7:0, bits 31:8 zero
inline constexpr std::uint16_t request_block_id = 0x1C;
inline constexpr std::uint16_t request_length = 0x20;
inline constexpr std::uint16_t request_sequence = 0x24;   // the doorbell: a new request when = ack + 1
// Status area: written by the PF only, acknowledged sequence last.
inline constexpr std::uint16_t generation = 0x28;       // odd while the PF updates status, mask or data
inline constexpr std::uint16_t status = 0x2C;           // NTSTATUS of the acknowledged request
inline constexpr std::uint16_t byte_count = 0x30;       // bytes read or written
inline constexpr std::uint16_t ack_sequence = 0x34;     // sequence of the request this status answers
inline constexpr std::uint16_t invalidate_mask_low = 0x38;   // latched mask, bits 31:0
inline constexpr std::uint16_t invalidate_mask_high = 0x3C;  // latched mask, bits 63:32
// Written by the VF: the mask bits it has taken.
inline constexpr std::uint16_t invalidate_ack_low = 0x40;
inline constexpr std::uint16_t invalidate_ack_high = 0x44;
inline constexpr std::uint16_t reserved = 0x48;         // 8 bytes, read as zero
inline constexpr std::uint16_t data = 0x50;             // 128-byte data window
}  // namespace reg

inline constexpr std::size_t data_window_size = max_block_size;
inline constexpr std::size_t window_size = reg::data + data_window_size;  // 0xD0 = 208 bytes
inline constexpr std::uint32_t control_reset = 0x1;

// The status area the VF reads in one transfer: generation .. invalidate_mask_high.
inline constexpr std::uint16_t status_area = reg::generation;
inline constexpr std::size_t status_area_size = reg::invalidate_ack_low - reg::generation;  // 24
// What the VF reads to poll: the status area plus the acknowledgement registers (32 bytes), so it can
// tell bits it acknowledged but the PF has not cleared yet from new ones.
inline constexpr std::size_t vf_poll_size = reg::reserved - reg::generation;  // 32
inline constexpr std::size_t reserved_size = reg::data - reg::reserved;       // 8
// The request area the VF writes in one transfer, in ascending order so the sequence lands last.
inline constexpr std::uint16_t request_area = reg::request_operation;
inline constexpr std::size_t request_area_size = reg::generation - reg::request_operation;  // 16

// The registers a VF may write, as [start, end) offsets: control, the request area, the acknowledgement
// registers and the data window. Everything else in the window is the PF's (docs/protocol.md, ownership);
// a device makes it read-only to the VF, so a VF's write there never takes effect.
struct register_range {
  std::uint16_t start;
  std::uint16_t end;
};
inline constexpr register_range vf_writable_ranges[] = {
    {reg::control, reg::generation},
    {reg::invalidate_ack_low, reg::reserved},
    {reg::data, static_cast<std::uint16_t>(window_size)},
};

enum class operation : std::uint8_t { read = 1, write = 2 };

static_assert(window_size == 208);
static_assert(status_area_size == 24);
static_assert(request_area_size == 16);
static_assert(vf_poll_size == 32);
static_assert(reserved_size == 8);

}  // namespace vpci::mailbox
