// The config-space mailbox register window (binding 1), layout 2. docs/protocol.md is the specification;
// this header is its byte-exact mirror (and include/vpci/c/vpci_mailbox.h its C11 twin, checked against
// it by a test). Offsets are from the start of the DVSEC that holds the window (its extended capability
// header). All registers are little-endian dwords; every register the protocol exchanges is one dword,
// written and read with single dword accesses, so no multi-register update needs a seqlock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include <vpci/protocol/constants.hpp>

namespace vpci::mailbox {

// The window is a Designated Vendor-Specific Extended Capability (0x0023). Its owner is named by the DVSEC
// vendor ID (the IHV's; vpci's default is the function's own vendor ID) and the DVSEC ID (vpci's default
// 0x5650, "VP"); both are configurable on both sides.
inline constexpr std::uint16_t default_dvsec_id = 0x5650;
inline constexpr std::uint8_t dvsec_revision = 2;
inline constexpr std::uint16_t layout_version = 2;

// Capability bits of the identity register (bits 31:16).
namespace capability {
inline constexpr std::uint16_t invalidation = 0x0001;  // latched invalidation mask + acknowledgement
inline constexpr std::uint16_t signal = 0x0002;        // the PF signals the VF on status changes (control.signal)
inline constexpr std::uint16_t heartbeat = 0x0004;     // status.heartbeat advances every limits.heartbeat_ms
}  // namespace capability

// Register offsets.
namespace reg {
inline constexpr std::uint16_t ext_header = 0x00;      // PCIe extended capability header: ID 0x0023, version 1, next
inline constexpr std::uint16_t dvsec_header1 = 0x04;   // DVSEC vendor ID 15:0, revision 19:16, length 31:20
inline constexpr std::uint16_t dvsec_header2 = 0x08;   // DVSEC ID 15:0; 31:16 reserved (zero)
inline constexpr std::uint16_t identity = 0x0C;        // RO: layout version 15:0, capabilities 31:16
inline constexpr std::uint16_t limits = 0x10;          // RO: max block 7:0, window dwords 15:8, heartbeat ms 31:16
inline constexpr std::uint16_t control = 0x14;         // VF: bit 0 RESET (PF clears), bit 1 SIGNAL
inline constexpr std::uint16_t request_block = 0x18;   // VF: block ID (any 32-bit value)
inline constexpr std::uint16_t request = 0x1C;         // VF, written last: sequence, length, operation
inline constexpr std::uint16_t status = 0x20;          // PF, written last: ack, count, flags, heartbeat, epoch
inline constexpr std::uint16_t result = 0x24;          // PF: NTSTATUS of the acknowledged request
inline constexpr std::uint16_t invalidate_mask_low = 0x28;   // PF: latched mask 31:0
inline constexpr std::uint16_t invalidate_mask_high = 0x2C;  // PF: latched mask 63:32
inline constexpr std::uint16_t invalidate_ack_low = 0x30;    // VF sets, PF clears: bits taken, 31:0
inline constexpr std::uint16_t invalidate_ack_high = 0x34;   // 63:32
inline constexpr std::uint16_t data = 0x38;            // 128-byte data window
}  // namespace reg

inline constexpr std::size_t data_window_size = max_block_size;
inline constexpr std::size_t window_size = reg::data + data_window_size;  // 0xB8 = 184 bytes
// The bytes of the data window that `length` bytes of block data occupy: whole dwords, as every access to
// the window is a single dword. The PF zero-pads a read's answer to them, the VF a write's data (which the
// PF ignores past `length`).
[[nodiscard]] constexpr std::size_t data_extent(std::size_t length) noexcept { return (length + 3) & ~std::size_t{3}; }
// The first `length` bytes of `storage` as the data window carries them: zeroed up to data_extent(length),
// which `storage` must hold (a block buffer of max_block_size bytes does).
constexpr std::span<const std::byte> zero_padded(std::span<std::byte> storage, std::size_t length) noexcept {
  const std::size_t extent = data_extent(length);
  for (std::size_t i = length; i < extent; ++i) storage[i] = std::byte{0};
  return storage.first(extent);
}
// The invalidation registers the VF reads when status.invalidated is set, in this order: the
// acknowledgement registers, then, only when both read cleared, the mask (docs/protocol.md 4.3).
inline constexpr std::uint16_t ack_area = reg::invalidate_ack_low;
inline constexpr std::size_t ack_area_size = 8;
inline constexpr std::uint16_t mask_area = reg::invalidate_mask_low;
inline constexpr std::size_t mask_area_size = 8;

// control
inline constexpr std::uint32_t control_reset = 0x1;
inline constexpr std::uint32_t control_signal = 0x2;
inline constexpr std::uint32_t control_defined = control_reset | control_signal;

enum class operation : std::uint8_t { read = 1, write = 2 };

// The request dword: sequence 15:0, length 23:16 (1..128), operation 25:24, bits 31:26 zero.
struct request_word {
  std::uint16_t sequence{0};
  std::uint8_t length{0};
  std::uint8_t operation{0};  // the raw 2-bit field: 1 read, 2 write, else unknown
  bool reserved_bits{false};  // bits 31:26 were not zero
  friend constexpr bool operator==(const request_word&, const request_word&) = default;
};
[[nodiscard]] constexpr std::uint32_t encode_request(std::uint16_t sequence, std::size_t length,
                                                     mailbox::operation op) noexcept {
  const std::uint32_t count = length & 0xFFu;  // the mask makes it fit, whatever size_t's width
  return std::uint32_t{sequence} | (count << 16) | (static_cast<std::uint32_t>(op) << 24);
}
[[nodiscard]] constexpr request_word decode_request(std::uint32_t word) noexcept {
  return request_word{static_cast<std::uint16_t>(word & 0xFFFF), static_cast<std::uint8_t>((word >> 16) & 0xFF),
                      static_cast<std::uint8_t>((word >> 24) & 0x3), (word >> 26) != 0};
}

// The status dword: ack sequence 15:0, byte count 23:16, FAILED 24 (result holds the NTSTATUS),
// INVALIDATED 25 (the latched mask is non-zero), heartbeat 27:26, epoch 31:28 (never 0 once initialised).
struct status_word {
  std::uint16_t ack{0};
  std::uint8_t count{0};
  bool failed{false};
  bool invalidated{false};
  std::uint8_t heartbeat{0};
  std::uint8_t epoch{0};
  friend constexpr bool operator==(const status_word&, const status_word&) = default;
};
[[nodiscard]] constexpr std::uint32_t encode_status(const status_word& s) noexcept {
  return std::uint32_t{s.ack} | (std::uint32_t{s.count} << 16) | (s.failed ? std::uint32_t{1} << 24 : 0u) |
         (s.invalidated ? std::uint32_t{1} << 25 : 0u) | (std::uint32_t{s.heartbeat & 0x3u} << 26) |
         (std::uint32_t{s.epoch & 0xFu} << 28);
}
[[nodiscard]] constexpr status_word decode_status(std::uint32_t word) noexcept {
  return status_word{static_cast<std::uint16_t>(word & 0xFFFF), static_cast<std::uint8_t>((word >> 16) & 0xFF),
                     ((word >> 24) & 1u) != 0,  ((word >> 25) & 1u) != 0,
                     static_cast<std::uint8_t>((word >> 26) & 0x3), static_cast<std::uint8_t>((word >> 28) & 0xF)};
}
// The fields that describe an answer (what a tear check compares): the heartbeat and the INVALIDATED flag
// change on their own while an answer stands.
inline constexpr std::uint32_t status_answer_fields = 0xF1FFFFFFu;
// Whether status word `now` still shows the answer `was` showed (any heartbeat, either INVALIDATED).
[[nodiscard]] constexpr bool same_answer(std::uint32_t now, std::uint32_t was) noexcept {
  return (now & status_answer_fields) == (was & status_answer_fields);
}

// The next epoch after `current` (1..15; 0 means "never initialised").
[[nodiscard]] constexpr std::uint8_t next_epoch(std::uint8_t current) noexcept {
  return static_cast<std::uint8_t>(current >= 15 ? 1 : current + 1);
}

// The sequence after `s`: + 1, wrapping past 0xFFFF to 1 (0 is never a request: a window whose request
// register reads 0 holds none).
[[nodiscard]] constexpr std::uint16_t next_sequence(std::uint16_t s) noexcept {
  const auto next = static_cast<std::uint16_t>(s + 1u);
  return next == 0 ? std::uint16_t{1} : next;
}

// identity and limits
// What identity's layout field (bits 15:0) says of a window: no PF has initialised it yet (0, as a placed
// DVSEC reads before its PF writes identity first, section 5.1), this layout, or another one.
enum class identity_layout : std::uint8_t { uninitialised, this_layout, other };
[[nodiscard]] constexpr identity_layout layout_of(std::uint32_t identity) noexcept {
  const auto layout = static_cast<std::uint16_t>(identity & 0xFFFFu);
  return layout == 0 ? identity_layout::uninitialised
                     : layout == layout_version ? identity_layout::this_layout : identity_layout::other;
}
[[nodiscard]] constexpr std::uint32_t encode_identity(std::uint16_t capabilities) noexcept {
  return std::uint32_t{layout_version} | (std::uint32_t{capabilities} << 16);
}
[[nodiscard]] constexpr std::uint32_t encode_limits(std::uint16_t heartbeat_ms) noexcept {
  return std::uint32_t{max_block_size} | (std::uint32_t{data_window_size / 4} << 8) | (std::uint32_t{heartbeat_ms} << 16);
}

// The registers a VF may write, as [start, end) offsets: control, the request registers, the
// acknowledgement registers and the data window. Everything else in the window is the PF's
// (docs/protocol.md, ownership): a device makes it read-only to the VF.
struct register_range {
  std::uint16_t start;
  std::uint16_t end;
};
inline constexpr register_range vf_writable_ranges[] = {
    {reg::control, reg::status},
    {reg::invalidate_ack_low, static_cast<std::uint16_t>(reg::invalidate_ack_high + 4)},
    {reg::data, static_cast<std::uint16_t>(window_size)},
};
// The PF-owned registers after the DVSEC headers: identity, limits, status, result and the mask.
inline constexpr register_range pf_owned_ranges[] = {
    {reg::identity, reg::control},
    {reg::status, reg::invalidate_ack_low},
};

static_assert(window_size == 0xB8);
static_assert(mask_area + mask_area_size == ack_area && ack_area + ack_area_size == reg::data);
static_assert(encode_request(0xFFFF, 128, operation::write) == 0x0280FFFFu);
static_assert(decode_status(encode_status(status_word{0x1234, 128, true, true, 3, 15})) ==
              status_word{0x1234, 128, true, true, 3, 15});

}  // namespace vpci::mailbox
