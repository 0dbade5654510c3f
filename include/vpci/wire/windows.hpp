// The Windows structures of the backchannel as encodable types (little-endian, natural alignment: the
// layout a Windows x86/x64/ARM64 driver sees):
// - vpci.h, the VF side's IOCTLs: VPCI_READ_BLOCK_INPUT, VPCI_WRITE_BLOCK_INPUT, VPCI_INVALIDATE_BLOCK_OUTPUT;
// - ntddndis.h, the PF side's NDIS OIDs: NDIS_SRIOV_READ/WRITE_VF_CONFIG_BLOCK_PARAMETERS and
//   NDIS_SRIOV_VF_INVALIDATE_CONFIG_BLOCK_INFO, each behind an NDIS_OBJECT_HEADER.
// Layouts and values are those of the Windows headers (mingw-w64's ntddndis.h, ndis.h, winioctl.h agree).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include <vpci/block/block_buffer.hpp>
#include <vpci/block/endian.hpp>
#include <vpci/protocol/block_id.hpp>
#include <vpci/protocol/constants.hpp>
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

// The NDIS OID structures a PF miniport receives in NDIS_OID_REQUEST's InformationBuffer.
//
// Decoders check the whole InformationBuffer they are given and never read past it. Their errors, and the
// NDIS_STATUS a PF answers them with:
// - buffer_too_small: the buffer cannot hold the structure, or the data range BufferOffset..+Length ends
//   past it: NDIS_STATUS_INVALID_LENGTH, BytesNeeded = required_buffer_size() (or the structure's size);
// - malformed_message: a header that is not NDIS_OBJECT_TYPE_DEFAULT, revision 1 or later, at least the
//   revision-1 size and at most the buffer; VFId NDIS_PF_FUNCTION_ID; data overlapping the structure:
//   NDIS_STATUS_INVALID_PARAMETER;
// - invalid_length: Length 0 or above VPCI_MAX_READ_WRITE_BLOCK_SIZE: NDIS_STATUS_INVALID_PARAMETER.
// A later revision (larger Size) is accepted, as NDIS drivers do: the fields of revision 1 are read.
namespace ndis {

// NDIS_STATUS values (ndis.h): NTSTATUS values, plus NDIS's own 0xC001xxxx codes.
enum class status : std::uint32_t {
  success = 0x00000000,
  pending = 0x00000103,
  failure = 0xC0000001,
  invalid_parameter = 0xC000000D,
  resources = 0xC000009A,
  not_supported = 0xC00000BB,
  invalid_length = 0xC0010014,
  invalid_data = 0xC0010015,
  buffer_too_short = 0xC0010016,
};

// NDIS_OBJECT_HEADER { UCHAR Type; UCHAR Revision; USHORT Size; }.
struct object_header {
  static constexpr std::size_t wire_size = 4;
  std::uint8_t type{0};
  std::uint8_t revision{0};
  std::uint16_t size{0};
  friend constexpr bool operator==(const object_header&, const object_header&) noexcept = default;
};
inline constexpr std::uint8_t object_type_default = 0x80;  // NDIS_OBJECT_TYPE_DEFAULT

// NDIS_SRIOV_READ_VF_CONFIG_BLOCK_PARAMETERS and NDIS_SRIOV_WRITE_VF_CONFIG_BLOCK_PARAMETERS share one
// layout: Header 0:4, VFId (USHORT) 4:2, 2 bytes of alignment, BlockId 8:4, Length 12:4, BufferOffset 16:4.
// NDIS_SIZEOF_..._REVISION_1 = RTL_SIZEOF_THROUGH_FIELD(..., BufferOffset) = 20. The data (read: where
// the PF puts the block; write: the block the VF wrote) lies at BufferOffset from the structure's start,
// in the same InformationBuffer.
struct vf_config_block_parameters {
  static constexpr std::uint8_t revision_1 = 1;  // NDIS_SRIOV_READ/WRITE_VF_CONFIG_BLOCK_PARAMETERS_REVISION_1
  static constexpr std::size_t size_revision_1 = 20;
  ndis_function_id vf_id{0};
  block_id block{};
  std::uint32_t length{0};
  std::uint32_t buffer_offset{size_revision_1};
  friend constexpr bool operator==(const vf_config_block_parameters&, const vf_config_block_parameters&) noexcept =
      default;
};

// NDIS_SRIOV_VF_INVALIDATE_CONFIG_BLOCK_INFO: Header 0:4, 4 bytes of alignment, BlockMask (ULONG64) 8:8.
// NDIS_SIZEOF_..._REVISION_1 = 16.
struct vf_invalidate_config_block_info {
  static constexpr std::uint8_t revision_1 = 1;  // NDIS_SRIOV_VF_INVALIDATE_CONFIG_BLOCK_INFO_REVISION_1
  static constexpr std::size_t size_revision_1 = 16;
  block_mask mask{};
  friend constexpr bool operator==(const vf_invalidate_config_block_info&,
                                   const vf_invalidate_config_block_info&) noexcept = default;
};

namespace detail {
constexpr void store_header(object_header h, std::byte* out) noexcept {
  le::store_u8(out, h.type);
  le::store_u8(out + 1, h.revision);
  le::store_u16(out + 2, h.size);
}

// The header of a revision-1-or-later structure that fits in `buffer` (at least `size_revision_1` bytes).
constexpr errc check_header(std::span<const std::byte> buffer, std::size_t size_revision_1) noexcept {
  if (buffer.size() < size_revision_1) return errc::buffer_too_small;
  const object_header h{le::load_u8(buffer.data()), le::load_u8(buffer.data() + 1), le::load_u16(buffer.data() + 2)};
  if (h.type != object_type_default || h.revision < 1 || h.size < size_revision_1 || h.size > buffer.size())
    return errc::malformed_message;
  return no_error;
}

constexpr void zero(std::byte* from, std::byte* to) noexcept {
  for (; from != to; ++from) *from = std::byte{0};
}

// BufferOffset..+Length inside a buffer of `size` bytes, without overflow.
constexpr bool data_fits(std::uint32_t offset, std::uint32_t length, std::size_t size) noexcept {
  return offset <= size && length <= size - offset;
}
}  // namespace detail

// The InformationBufferLength the request needs: BufferOffset + Length (64-bit: both are ULONGs).
[[nodiscard]] constexpr std::uint64_t required_buffer_size(const vf_config_block_parameters& p) noexcept {
  return std::uint64_t{p.buffer_offset} + p.length;
}

// Writes the structure (revision 1, Size 20) at the start of `information_buffer` and zeroes the bytes
// between it and BufferOffset; the data region is left to the caller (data_region()). Returns the bytes
// the request spans, required_buffer_size(p). Errors, with nothing written: invalid_length (Length),
// invalid_argument (VFId NDIS_PF_FUNCTION_ID, BufferOffset inside the structure), buffer_too_small.
[[nodiscard]] constexpr result<std::size_t> encode(const vf_config_block_parameters& p,
                                                   std::span<std::byte> information_buffer) noexcept {
  if (!valid_block_length(p.length)) return errc::invalid_length;
  if (p.vf_id == ndis_pf_function_id || p.buffer_offset < vf_config_block_parameters::size_revision_1)
    return errc::invalid_argument;
  if (!detail::data_fits(p.buffer_offset, p.length, information_buffer.size())) return errc::buffer_too_small;
  std::byte* out = information_buffer.data();
  detail::store_header({object_type_default, vf_config_block_parameters::revision_1,
                        static_cast<std::uint16_t>(vf_config_block_parameters::size_revision_1)},
                       out);
  le::store_u16(out + 4, p.vf_id);
  le::store_u16(out + 6, 0);
  le::store_u32(out + 8, p.block.value());
  le::store_u32(out + 12, p.length);
  le::store_u32(out + 16, p.buffer_offset);
  detail::zero(out + vf_config_block_parameters::size_revision_1, out + p.buffer_offset);
  return std::size_t{p.buffer_offset} + p.length;
}

// Decodes and checks the parameters of OID_SRIOV_READ_VF_CONFIG_BLOCK or OID_SRIOV_WRITE_VF_CONFIG_BLOCK
// against the whole InformationBuffer. The alignment bytes after VFId and BlockId's value are not checked
// (BlockId is the IHV's: an unknown one is the handler's NDIS_STATUS_INVALID_PARAMETER).
[[nodiscard]] constexpr result<vf_config_block_parameters> decode_vf_config_block_parameters(
    std::span<const std::byte> information_buffer) noexcept {
  if (auto e = detail::check_header(information_buffer, vf_config_block_parameters::size_revision_1); e != no_error)
    return e;
  const std::byte* in = information_buffer.data();
  const vf_config_block_parameters p{le::load_u16(in + 4), block_id{le::load_u32(in + 8)}, le::load_u32(in + 12),
                                     le::load_u32(in + 16)};
  if (p.vf_id == ndis_pf_function_id) return errc::malformed_message;
  if (!valid_block_length(p.length)) return errc::invalid_length;
  if (p.buffer_offset < le::load_u16(in + 2)) return errc::malformed_message;
  if (!detail::data_fits(p.buffer_offset, p.length, information_buffer.size())) return errc::buffer_too_small;
  return p;
}

// The data region of a request decoded from (or encoded into) `information_buffer`; empty if the
// parameters do not fit it.
[[nodiscard]] constexpr std::span<std::byte> data_region(std::span<std::byte> information_buffer,
                                                         const vf_config_block_parameters& p) noexcept {
  if (!detail::data_fits(p.buffer_offset, p.length, information_buffer.size())) return {};
  return information_buffer.subspan(p.buffer_offset, p.length);
}
[[nodiscard]] constexpr std::span<const std::byte> data_region(std::span<const std::byte> information_buffer,
                                                               const vf_config_block_parameters& p) noexcept {
  if (!detail::data_fits(p.buffer_offset, p.length, information_buffer.size())) return {};
  return information_buffer.subspan(p.buffer_offset, p.length);
}

[[nodiscard]] constexpr result<std::size_t> encode(const vf_invalidate_config_block_info& info,
                                                   std::span<std::byte> out) noexcept {
  if (out.size() < vf_invalidate_config_block_info::size_revision_1) return errc::buffer_too_small;
  detail::store_header({object_type_default, vf_invalidate_config_block_info::revision_1,
                        static_cast<std::uint16_t>(vf_invalidate_config_block_info::size_revision_1)},
                       out.data());
  le::store_u32(out.data() + 4, 0);
  le::store_u64(out.data() + 8, info.mask.bits());
  return vf_invalidate_config_block_info::size_revision_1;
}

// Only the buffer's length is checked, not the header, by choice: the structure's page documents Type
// 0x80, Revision 1, Size 16 (encode above writes them), but what ndis.sys puts there when it builds the
// OID request is not documented, and a VF miniport that checked the header would drop every
// invalidation from a stack that left it unset. BlockMask at offset 8 is all a VF acts on.
[[nodiscard]] constexpr result<vf_invalidate_config_block_info> decode_vf_invalidate_config_block_info(
    std::span<const std::byte> information_buffer) noexcept {
  if (information_buffer.size() < vf_invalidate_config_block_info::size_revision_1) return errc::buffer_too_small;
  return vf_invalidate_config_block_info{block_mask{le::load_u64(information_buffer.data() + 8)}};
}

}  // namespace ndis

}  // namespace vpci::windows
