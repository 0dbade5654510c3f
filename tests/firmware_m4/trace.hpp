// The recorded VF side of one layout-2 mailbox session (docs/protocol.md), as raw dword accesses: what a VF
// wrote into its window, what it read back (the value recorded on the wire, which the replay checks against
// the PF's window), and the points where the PF serviced the window (its write hook or doorbell). Values are
// literal, not computed with vpci's encoders, so the trace is evidence independent of the code under test.
// "a read of 16 bytes of block 5" is docs/protocol.md's trace of that name, access for access.
//
// Setup (replay.hpp): VF 0 has block 5 (16 bytes 0xA0..0xAF, read-write), block 6 (4 bytes, zero,
// read-write) and block 7 (bytes 01 02 03 04, read-only); placement wrote the DVSEC headers (vendor 0x1AF4).
#pragma once

#include <cstdint>

namespace vpci_firmware {

enum class step_kind : std::uint8_t {
  scenario,    // a heading: what the following steps show
  initialize,  // the PF places and initialises the window (VF enable)
  vf_write,    // the VF writes the dword `value` at `offset`
  vf_read,     // the VF reads the dword at `offset`; the trace recorded `value`
  service,     // the PF services the window (a write hook or doorbell)
  raise,       // the PF invalidates block `value` (its own update)
  flr,         // an FLR of the VF: the PF resets the VF and re-initialises the window
};

struct step {
  step_kind kind;
  std::uint16_t offset;
  std::uint32_t value;
  const char* text;
};

constexpr step scenario(const char* text) { return {step_kind::scenario, 0, 0, text}; }
constexpr step initialize() { return {step_kind::initialize, 0, 0, nullptr}; }
constexpr step vf_write(std::uint16_t offset, std::uint32_t value) { return {step_kind::vf_write, offset, value, nullptr}; }
constexpr step vf_read(std::uint16_t offset, std::uint32_t value) { return {step_kind::vf_read, offset, value, nullptr}; }
constexpr step service() { return {step_kind::service, 0, 0, nullptr}; }
constexpr step raise(std::uint32_t block) { return {step_kind::raise, 0, block, nullptr}; }
constexpr step flr() { return {step_kind::flr, 0, 0, nullptr}; }

// Registers: 0x14 control, 0x18 request_block, 0x1C request (sequence 15:0, length 23:16, operation 25:24),
// 0x20 status (ack 15:0, count 23:16, FAILED 24, INVALIDATED 25, epoch 31:28), 0x24 result, 0x28/0x2C mask,
// 0x30/0x34 acknowledgement, 0x38.. data.
inline constexpr step recorded_trace[] = {
    scenario("the PF initialises the window: epoch 1, no request, nothing latched"),
    initialize(),

    scenario("the VF probes the window"),
    vf_read(0x00, 0x00010023), vf_read(0x04, 0x0B821AF4), vf_read(0x08, 0x00005650), vf_read(0x0C, 0x00010002),
    vf_read(0x10, 0x00002080), vf_read(0x14, 0x00000000), vf_read(0x18, 0x00000000), vf_read(0x1C, 0x00000000),
    vf_read(0x20, 0x10000000),

    scenario("a read of 4 bytes of block 6: sequence 1, adopted"),
    vf_write(0x18, 0x00000006), vf_write(0x1C, 0x01040001), service(),
    vf_read(0x20, 0x10040001), vf_read(0x38, 0x00000000), vf_read(0x20, 0x10040001),

    scenario("a read of 16 bytes of block 5 (docs/protocol.md)"),
    vf_write(0x18, 0x00000005), vf_write(0x1C, 0x01100002), service(),
    vf_read(0x20, 0x10100002), vf_read(0x38, 0xA3A2A1A0), vf_read(0x3C, 0xA7A6A5A4), vf_read(0x40, 0xABAAA9A8),
    vf_read(0x44, 0xAFAEADAC), vf_read(0x20, 0x10100002),

    scenario("a write of 4 bytes to block 6"),
    vf_write(0x38, 0x44332211), vf_write(0x18, 0x00000006), vf_write(0x1C, 0x02040003), service(),
    vf_read(0x20, 0x10040003),

    scenario("a read of block 6 returns what the VF wrote"),
    vf_write(0x1C, 0x01040004), service(),
    vf_read(0x20, 0x10040004), vf_read(0x38, 0x44332211), vf_read(0x20, 0x10040004),

    scenario("refused: a read of block 99, which the VF has no block for (STATUS_INVALID_PARAMETER)"),
    vf_write(0x18, 0x00000063), vf_write(0x1C, 0x01080005), service(),
    vf_read(0x20, 0x11000005), vf_read(0x24, 0xC000000D),

    scenario("refused: a write to read-only block 7 (STATUS_ACCESS_DENIED)"),
    vf_write(0x38, 0xDDCCBBAA), vf_write(0x18, 0x00000007), vf_write(0x1C, 0x02040006), service(),
    vf_read(0x20, 0x11000006), vf_read(0x24, 0xC0000022),

    scenario("the same request again: a replay, no register changes"),
    vf_write(0x1C, 0x02040006), service(),
    vf_read(0x20, 0x11000006),

    scenario("a read of block 7: its contents are unchanged, result back to success"),
    vf_write(0x1C, 0x01040007), service(),
    vf_read(0x20, 0x10040007), vf_read(0x38, 0x04030201), vf_read(0x20, 0x10040007),

    scenario("the PF invalidates block 5; the VF finds the acknowledgement cleared, reads the latch, acknowledges it"),
    raise(5), service(),
    vf_read(0x20, 0x12040007), vf_read(0x30, 0x00000000), vf_read(0x34, 0x00000000), vf_read(0x28, 0x00000020),
    vf_read(0x2C, 0x00000000), vf_write(0x30, 0x00000020), service(),
    vf_read(0x20, 0x10040007),

    scenario("hostile: the VF writes the PF-owned status register; the PF restores it"),
    vf_write(0x20, 0xFFFFFFFF), service(),
    vf_read(0x20, 0x10040007),

    scenario("hostile: a skipped sequence (9 after 7) is a violation: FAILED, quarantined"),
    vf_write(0x18, 0x00000005), vf_write(0x1C, 0x01100009), service(),
    vf_read(0x20, 0x11000009), vf_read(0x24, 0xC0000010),

    scenario("refused: the next request while quarantined (STATUS_ACCESS_DENIED)"),
    vf_write(0x1C, 0x0110000A), service(),
    vf_read(0x20, 0x1100000A), vf_read(0x24, 0xC0000022),

    scenario("a mailbox reset: ack 0, request registers zeroed, control cleared last"),
    vf_write(0x14, 0x00000001), service(),
    vf_read(0x14, 0x00000000), vf_read(0x20, 0x10000000),

    scenario("after the reset the first sequence is adopted and the quarantine is lifted"),
    vf_write(0x18, 0x00000005), vf_write(0x1C, 0x01100001), service(),
    vf_read(0x20, 0x10100001), vf_read(0x38, 0xA3A2A1A0), vf_read(0x3C, 0xA7A6A5A4), vf_read(0x40, 0xABAAA9A8),
    vf_read(0x44, 0xAFAEADAC), vf_read(0x20, 0x10100001),

    scenario("an FLR with block 6 invalidated: a new epoch (2), the latch republished"),
    raise(6), flr(),
    vf_read(0x20, 0x22000000), vf_read(0x0C, 0x00010002), vf_read(0x10, 0x00002080), vf_read(0x14, 0x00000000),
    vf_read(0x18, 0x00000000), vf_read(0x1C, 0x00000000), vf_read(0x20, 0x22000000), vf_read(0x30, 0x00000000),
    vf_read(0x34, 0x00000000), vf_read(0x28, 0x00000040), vf_read(0x2C, 0x00000000), vf_write(0x30, 0x00000040),
    service(),
    vf_read(0x20, 0x20000000),

    scenario("after the FLR: block 6 kept the VF's write; sequence 1 adopted in epoch 2"),
    vf_write(0x18, 0x00000006), vf_write(0x1C, 0x01040001), service(),
    vf_read(0x20, 0x20040001), vf_read(0x38, 0x44332211), vf_read(0x20, 0x20040001),
};

}  // namespace vpci_firmware
