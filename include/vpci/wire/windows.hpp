// The vpci.h IOCTL input/output structures as encodable types (ULONG/UINT64 fields, little-endian,
// the layout a Windows x86/x64/ARM64 driver sees).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include <vpci/block/block_buffer.hpp>
#include <vpci/block/endian.hpp>
#include <vpci/protocol/block_id.hpp>
#include <vpci/protocol/result.hpp>

namespace vpci::windows {

// VPCI_READ_BLOCK_INPUT { ULONG BlockId; ULONG BytesRequested; }: the input of IOCTL_VPCI_READ_BLOCK.
struct read_block_input {
  static constexpr std::size_t wire_size = 8;
  block_id block{};
  std::uint32_t bytes_requested{0};
  friend constexpr bool operator==(const read_block_input&, const read_block_input&) noexcept = default;
};

// VPCI_WRITE_BLOCK_INPUT { ULONG BlockId; ULONG DataLength; UCHAR Data[]; }: Data at offset 8.
struct write_block_input {
  static constexpr std::size_t header_size = 8;
  block_id block{};
  std::span<const std::byte> data{};
};

// VPCI_INVALIDATE_BLOCK_OUTPUT { UINT64 BlockMask; }: the output of IOCTL_VPCI_INVALIDATE_BLOCK.
struct invalidate_block_output {
  static constexpr std::size_t wire_size = 8;
  block_mask mask{};
  friend constexpr bool operator==(const invalidate_block_output&, const invalidate_block_output&) noexcept = default;
};

[[nodiscard]] constexpr result<std::size_t> encode(const read_block_input& in, std::span<std::byte> out) noexcept {
  if (!valid_block_length(in.bytes_requested)) return errc::invalid_length;
  if (out.size() < read_block_input::wire_size) return errc::buffer_too_small;
  le::store_u32(out.data(), in.block.value());
  le::store_u32(out.data() + 4, in.bytes_requested);
  return read_block_input::wire_size;
}

// An input buffer shorter than the structure is STATUS_BUFFER_TOO_SMALL on Windows: buffer_too_small here.
[[nodiscard]] constexpr result<read_block_input> decode_read_block_input(std::span<const std::byte> in) noexcept {
  if (in.size() < read_block_input::wire_size) return errc::buffer_too_small;
  const std::uint32_t length = le::load_u32(in.data() + 4);
  if (!valid_block_length(length)) return errc::invalid_length;
  return read_block_input{block_id{le::load_u32(in.data())}, length};
}

[[nodiscard]] constexpr result<std::size_t> encode(const write_block_input& in, std::span<std::byte> out) noexcept {
  if (!valid_block_length(in.data.size())) return errc::invalid_length;
  const std::size_t size = write_block_input::header_size + in.data.size();
  if (out.size() < size) return errc::buffer_too_small;
  le::store_u32(out.data(), in.block.value());
  le::store_u32(out.data() + 4, static_cast<std::uint32_t>(in.data.size()));
  le::copy(in.data, out.data() + write_block_input::header_size);
  return size;
}

// DataLength must be 1..128 and the buffer must hold all of it.
[[nodiscard]] constexpr result<write_block_input> decode_write_block_input(std::span<const std::byte> in) noexcept {
  if (in.size() < write_block_input::header_size) return errc::buffer_too_small;
  const std::uint32_t length = le::load_u32(in.data() + 4);
  if (!valid_block_length(length)) return errc::invalid_length;
  if (in.size() - write_block_input::header_size < length) return errc::buffer_too_small;
  return write_block_input{block_id{le::load_u32(in.data())}, in.subspan(write_block_input::header_size, length)};
}

[[nodiscard]] constexpr result<std::size_t> encode(const invalidate_block_output& o, std::span<std::byte> out) noexcept {
  if (out.size() < invalidate_block_output::wire_size) return errc::buffer_too_small;
  le::store_u64(out.data(), o.mask.bits());
  return invalidate_block_output::wire_size;
}

[[nodiscard]] constexpr result<invalidate_block_output> decode_invalidate_block_output(
    std::span<const std::byte> in) noexcept {
  if (in.size() < invalidate_block_output::wire_size) return errc::buffer_too_small;
  return invalidate_block_output{block_mask{le::load_u64(in.data())}};
}

}  // namespace vpci::windows
