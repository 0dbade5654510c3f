// What the two VF fuzz targets (vf_message_engine, vf_mailbox_engine) start and what every completion of
// theirs must meet, whatever the binding: an operation read from the input, its read destination an
// exact-size heap block pre-filled with a sentinel (AddressSanitizer sees a byte past it, the sentinel a
// byte written that should not be).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include <vpci/engine/vf_operation.hpp>
#include <vpci/protocol/block_id.hpp>
#include <vpci/protocol/constants.hpp>
#include <vpci/protocol/errc.hpp>

#include "fuzz_support.hpp"

namespace vpci::fuzz {

inline constexpr std::byte destination_sentinel{0xA5};

struct vf_operation {
  engine::operation_kind kind{};
  block_id id{};
  std::size_t length{0};
  std::uint64_t deadline{0};
  std::unique_ptr<std::byte[]> destination;  // reads: exactly `length` bytes, pre-filled with the sentinel
  std::vector<std::byte> data;               // writes: `length` bytes, the input's then 0x11 where it ran out

  [[nodiscard]] std::span<std::byte> destination_span() const noexcept { return {destination.get(), length}; }
};

// Input: the block ID (u32), the length (u8: 1..128, or 0 or 129 from 0xF0 up), the deadline (u16, in
// `deadline_unit` nanoseconds from `now`), then a write's data (up to `length` bytes).
inline vf_operation take_vf_operation(input_reader& in, bool read, std::uint64_t now, std::uint64_t deadline_unit) {
  vf_operation op;
  op.kind = read ? engine::operation_kind::read : engine::operation_kind::write;
  op.id = block_id{in.u32()};
  const std::uint8_t l = in.u8();
  op.length = l < 0xF0 ? 1 + l % max_block_size : (l & 1) * 129;
  op.deadline = now + std::uint64_t{in.u16()} * deadline_unit;
  if (read) {
    op.destination = std::make_unique<std::byte[]>(op.length);
    for (std::size_t i = 0; i < op.length; ++i) op.destination[i] = destination_sentinel;
  } else {
    const auto given = in.take(op.length);
    op.data.assign(op.length, std::byte{0x11});
    for (std::size_t i = 0; i < given.size(); ++i) op.data[i] = given[i];
  }
  return op;
}

// What every completion meets: no more bytes than requested; a success is a write's whole length or 1..n
// bytes of a read, never a transport failure; a failure carries 0 bytes; a read's destination is untouched
// past the bytes it delivered (all of it on a failure).
inline void check_vf_completion(const vf_operation& op, errc error, std::size_t bytes, bool transport_failure) {
  VPCI_FUZZ_CHECK(bytes <= op.length);
  if (error == no_error) {
    VPCI_FUZZ_CHECK(!transport_failure);
    VPCI_FUZZ_CHECK(op.kind == engine::operation_kind::write ? bytes == op.length : bytes >= 1);
  } else {
    VPCI_FUZZ_CHECK(bytes == 0);
  }
  if (op.kind == engine::operation_kind::read) {
    for (std::size_t i = bytes; i < op.length; ++i) VPCI_FUZZ_CHECK(op.destination[i] == destination_sentinel);
  }
}

}  // namespace vpci::fuzz
