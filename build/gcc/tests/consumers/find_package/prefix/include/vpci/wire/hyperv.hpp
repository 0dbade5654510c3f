// Byte-exact codecs for the Hyper-V vPCI block messages (Linux pci-hyperv.c layouts; packed, little-endian).
//
// Requests (read, write) are the payloads a guest hands to VMBus; responses and the invalidate message
// include the 16-byte VMBus packet descriptor, as the guest's completion and channel callbacks see them.
// Packet lengths are exact: the read response's data length is the packet length minus 20.
// Decoders validate every length and field before touching the output; encoders refuse invalid
// arguments and write nothing then.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include <vpci/block/block_buffer.hpp>
#include <vpci/block/endian.hpp>
#include <vpci/protocol/block_id.hpp>
#include <vpci/protocol/constants.hpp>
#include <vpci/protocol/ntstatus.hpp>
#include <vpci/protocol/result.hpp>

namespace vpci::hyperv {

inline constexpr std::uint32_t pci_message_base = 0x42490000;

enum class message_type : std::uint32_t {
  read_block = pci_message_base + 0x09,
  write_block = pci_message_base + 0x0A,
  invalidate_block = pci_message_base + 0x12,
  query_protocol_version = pci_message_base + 0x13,
};

// Protocol versions are (major << 16) | minor.
constexpr std::uint32_t protocol_version(std::uint16_t major, std::uint16_t minor) noexcept {
  return (std::uint32_t{major} << 16) | minor;
}
inline constexpr std::uint32_t protocol_version_1_1 = protocol_version(1, 1);
inline constexpr std::uint32_t protocol_version_1_2 = protocol_version(1, 2);
inline constexpr std::uint32_t protocol_version_1_3 = protocol_version(1, 3);
inline constexpr std::uint32_t protocol_version_1_4 = protocol_version(1, 4);

// union win_slot: device bits 4:0, function bits 7:5, bits 31:8 reserved (must be zero).
struct wslot {
  std::uint8_t device{0};
  std::uint8_t function{0};
  friend constexpr bool operator==(wslot, wslot) noexcept = default;
};

[[nodiscard]] constexpr result<std::uint32_t> encode_wslot(wslot slot) noexcept {
  if (slot.device > 31 || slot.function > 7) return errc::invalid_argument;
  return static_cast<std::uint32_t>(slot.device | (slot.function << 5));
}
[[nodiscard]] constexpr result<wslot> decode_wslot(std::uint32_t raw) noexcept {
  if ((raw & ~std::uint32_t{0xFF}) != 0) return errc::malformed_message;
  return wslot{static_cast<std::uint8_t>(raw & 0x1F), static_cast<std::uint8_t>((raw >> 5) & 0x7)};
}

// The VMBus packet descriptor (struct vmpacket_descriptor).
namespace vmbus {
inline constexpr std::uint16_t packet_data_inband = 6;
inline constexpr std::uint16_t packet_completion = 11;
inline constexpr std::uint16_t flag_completion_requested = 1;
inline constexpr std::size_t descriptor_size = 16;
// The largest packet these messages use: a read response carrying a full block.
inline constexpr std::size_t max_packet_size = descriptor_size + 4 + max_block_size;

struct packet_descriptor {
  std::uint16_t type{0};
  std::uint16_t offset8{0};  // start of the payload, in 8-byte units from the packet start
  std::uint16_t len8{0};     // packet length, in 8-byte units, rounded up
  std::uint16_t flags{0};
  std::uint64_t transaction_id{0};
  friend constexpr bool operator==(const packet_descriptor&, const packet_descriptor&) noexcept = default;
};

// The descriptor for a packet of `packet_size` bytes whose payload starts right after the descriptor.
[[nodiscard]] constexpr packet_descriptor make_descriptor(std::uint16_t type, std::size_t packet_size,
                                                          std::uint64_t transaction_id,
                                                          std::uint16_t flags = 0) noexcept {
  return {type, static_cast<std::uint16_t>(descriptor_size / 8), static_cast<std::uint16_t>((packet_size + 7) / 8),
          flags, transaction_id};
}

constexpr void store_descriptor(const packet_descriptor& d, std::byte* out) noexcept {
  le::store_u16(out + 0, d.type);
  le::store_u16(out + 2, d.offset8);
  le::store_u16(out + 4, d.len8);
  le::store_u16(out + 6, d.flags);
  le::store_u64(out + 8, d.transaction_id);
}

// Decodes and checks the descriptor of a whole packet: the payload offset must lie inside the packet,
// after the descriptor, and len8 must be the packet's own length rounded up to 8 bytes.
[[nodiscard]] constexpr result<packet_descriptor> decode_descriptor(std::span<const std::byte> packet) noexcept {
  if (packet.size() < descriptor_size) return errc::truncated_message;
  packet_descriptor d{le::load_u16(packet.data() + 0), le::load_u16(packet.data() + 2),
                      le::load_u16(packet.data() + 4), le::load_u16(packet.data() + 6),
                      le::load_u64(packet.data() + 8)};
  const std::size_t offset = std::size_t{d.offset8} * 8;
  const std::size_t length = std::size_t{d.len8} * 8;
  if (offset < descriptor_size || offset > packet.size()) return errc::malformed_message;
  if (length < packet.size() || length - packet.size() >= 8) return errc::malformed_message;
  return d;
}
}  // namespace vmbus

// Reads the message type at the start of a request payload.
[[nodiscard]] constexpr result<message_type> peek_message_type(std::span<const std::byte> payload) noexcept {
  if (payload.size() < 4) return errc::truncated_message;
  const std::uint32_t raw = le::load_u32(payload.data());
  switch (static_cast<message_type>(raw)) {
    case message_type::read_block:
    case message_type::write_block:
    case message_type::invalidate_block:
    case message_type::query_protocol_version: return static_cast<message_type>(raw);
  }
  return errc::unknown_message_type;
}

namespace detail {
// Checks the type word of a payload against the one a decoder expects.
constexpr errc expect_type(std::span<const std::byte> payload, message_type expected) noexcept {
  auto type = peek_message_type(payload);
  if (!type) return type.error();
  return *type == expected ? no_error : errc::unknown_message_type;
}
}  // namespace detail

// struct pci_read_block: type 0:4, block_id 4:4, wslot 8:4, bytes_requested 12:4.
struct read_request {
  static constexpr std::size_t wire_size = 16;
  block_id block{};
  wslot slot{};
  std::uint32_t bytes_requested{0};
  friend constexpr bool operator==(const read_request&, const read_request&) noexcept = default;
};

[[nodiscard]] constexpr result<std::size_t> encode(const read_request& m, std::span<std::byte> out) noexcept {
  auto slot = encode_wslot(m.slot);
  if (!slot) return slot.error();
  if (!valid_block_length(m.bytes_requested)) return errc::invalid_length;
  if (out.size() < read_request::wire_size) return errc::buffer_too_small;
  le::store_u32(out.data() + 0, static_cast<std::uint32_t>(message_type::read_block));
  le::store_u32(out.data() + 4, m.block.value());
  le::store_u32(out.data() + 8, *slot);
  le::store_u32(out.data() + 12, m.bytes_requested);
  return read_request::wire_size;
}

[[nodiscard]] constexpr result<read_request> decode_read_request(std::span<const std::byte> payload) noexcept {
  if (auto e = detail::expect_type(payload, message_type::read_block); e != no_error) return e;
  if (payload.size() < read_request::wire_size) return errc::truncated_message;
  if (payload.size() > read_request::wire_size) return errc::malformed_message;
  auto slot = decode_wslot(le::load_u32(payload.data() + 8));
  if (!slot) return slot.error();
  const std::uint32_t length = le::load_u32(payload.data() + 12);
  if (!valid_block_length(length)) return errc::invalid_length;
  return read_request{block_id{le::load_u32(payload.data() + 4)}, *slot, length};
}

// struct pci_read_block_response: descriptor 0:16, status 16:4, bytes 20:n (n = packet length - 20).
struct read_response {
  static constexpr std::size_t header_size = vmbus::descriptor_size + 4;
  std::uint64_t transaction_id{0};
  ntstatus status{ntstatus::success};
  std::span<const std::byte> data{};  // a view into the decoded packet
};

// Encodes a completion packet. A success must carry 1..128 bytes (a success with no data reads as a
// failure on the guest side); a failure carries none.
[[nodiscard]] constexpr result<std::size_t> encode(const read_response& m, std::span<std::byte> out) noexcept {
  if (m.status == ntstatus::success ? !valid_block_length(m.data.size()) : !m.data.empty())
    return errc::invalid_length;
  const std::size_t size = read_response::header_size + m.data.size();
  if (out.size() < size) return errc::buffer_too_small;
  vmbus::store_descriptor(vmbus::make_descriptor(vmbus::packet_completion, size, m.transaction_id), out.data());
  le::store_u32(out.data() + 16, static_cast<std::uint32_t>(m.status));
  le::copy(m.data, out.data() + read_response::header_size);
  return size;
}

[[nodiscard]] constexpr result<read_response> decode_read_response(std::span<const std::byte> packet) noexcept {
  if (packet.size() < read_response::header_size) return errc::truncated_message;
  auto d = vmbus::decode_descriptor(packet);
  if (!d) return d.error();
  if (d->type != vmbus::packet_completion) return errc::unknown_message_type;
  const auto status = static_cast<ntstatus>(le::load_u32(packet.data() + 16));
  const std::size_t length = packet.size() - read_response::header_size;
  if (length > max_block_size) return errc::malformed_message;
  if (status == ntstatus::success && length == 0) return errc::empty_response;
  return read_response{d->transaction_id, status, packet.subspan(read_response::header_size)};
}

// struct pci_write_block: type 0:4, block_id 4:4, wslot 8:4, byte_count 12:4, bytes 16:n.
struct write_request {
  static constexpr std::size_t header_size = 16;
  // The Linux guest sends 4 reserved bytes past the data (a quirk for 2018-era hosts).
  static constexpr std::size_t linux_reserved_tail = 4;
  block_id block{};
  wslot slot{};
  std::span<const std::byte> data{};
};

[[nodiscard]] constexpr result<std::size_t> encode(const write_request& m, std::span<std::byte> out,
                                                   bool with_linux_tail = false) noexcept {
  auto slot = encode_wslot(m.slot);
  if (!slot) return slot.error();
  if (!valid_block_length(m.data.size())) return errc::invalid_length;
  const std::size_t tail = with_linux_tail ? write_request::linux_reserved_tail : 0;
  const std::size_t size = write_request::header_size + m.data.size() + tail;
  if (out.size() < size) return errc::buffer_too_small;
  le::store_u32(out.data() + 0, static_cast<std::uint32_t>(message_type::write_block));
  le::store_u32(out.data() + 4, m.block.value());
  le::store_u32(out.data() + 8, *slot);
  le::store_u32(out.data() + 12, static_cast<std::uint32_t>(m.data.size()));
  le::copy(m.data, out.data() + write_request::header_size);
  for (std::size_t i = size - tail; i < size; ++i) out[i] = std::byte{0};
  return size;
}

[[nodiscard]] constexpr result<write_request> decode_write_request(std::span<const std::byte> payload) noexcept {
  if (auto e = detail::expect_type(payload, message_type::write_block); e != no_error) return e;
  if (payload.size() < write_request::header_size) return errc::truncated_message;
  auto slot = decode_wslot(le::load_u32(payload.data() + 8));
  if (!slot) return slot.error();
  const std::uint32_t count = le::load_u32(payload.data() + 12);
  if (!valid_block_length(count)) return errc::invalid_length;
  const std::size_t present = payload.size() - write_request::header_size;
  if (count > present) return errc::truncated_message;
  if (present != count && present != count + write_request::linux_reserved_tail) return errc::malformed_message;
  return write_request{block_id{le::load_u32(payload.data() + 4)}, *slot,
                       payload.subspan(write_request::header_size, count)};
}

// struct pci_response for a write: descriptor 0:16, status s32 16:4.
struct write_completion {
  static constexpr std::size_t wire_size = vmbus::descriptor_size + 4;
  std::uint64_t transaction_id{0};
  ntstatus status{ntstatus::success};
  friend constexpr bool operator==(const write_completion&, const write_completion&) noexcept = default;
};

[[nodiscard]] constexpr result<std::size_t> encode(const write_completion& m, std::span<std::byte> out) noexcept {
  if (out.size() < write_completion::wire_size) return errc::buffer_too_small;
  vmbus::store_descriptor(vmbus::make_descriptor(vmbus::packet_completion, write_completion::wire_size, m.transaction_id),
                          out.data());
  le::store_u32(out.data() + 16, static_cast<std::uint32_t>(m.status));
  return write_completion::wire_size;
}

[[nodiscard]] constexpr result<write_completion> decode_write_completion(std::span<const std::byte> packet) noexcept {
  if (packet.size() < write_completion::wire_size) return errc::truncated_message;
  if (packet.size() > write_completion::wire_size) return errc::malformed_message;
  auto d = vmbus::decode_descriptor(packet);
  if (!d) return d.error();
  if (d->type != vmbus::packet_completion) return errc::unknown_message_type;
  return write_completion{d->transaction_id, static_cast<ntstatus>(le::load_u32(packet.data() + 16))};
}

// struct pci_dev_inval_block: descriptor 0:16, type 16:4, wslot 20:4, block_mask 24:8.
struct invalidate {
  static constexpr std::size_t wire_size = 32;
  wslot slot{};
  block_mask mask{};
  friend constexpr bool operator==(const invalidate&, const invalidate&) noexcept = default;
};

[[nodiscard]] constexpr result<std::size_t> encode(const invalidate& m, std::span<std::byte> out) noexcept {
  auto slot = encode_wslot(m.slot);
  if (!slot) return slot.error();
  if (out.size() < invalidate::wire_size) return errc::buffer_too_small;
  vmbus::store_descriptor(vmbus::make_descriptor(vmbus::packet_data_inband, invalidate::wire_size, 0), out.data());
  le::store_u32(out.data() + 16, static_cast<std::uint32_t>(message_type::invalidate_block));
  le::store_u32(out.data() + 20, *slot);
  le::store_u64(out.data() + 24, m.mask.bits());
  return invalidate::wire_size;
}

// A short invalidate is dropped as malformed, as the Linux guest does.
[[nodiscard]] constexpr result<invalidate> decode_invalidate(std::span<const std::byte> packet) noexcept {
  if (packet.size() < invalidate::wire_size) return errc::truncated_message;
  if (packet.size() > invalidate::wire_size) return errc::malformed_message;
  auto d = vmbus::decode_descriptor(packet);
  if (!d) return d.error();
  if (d->type != vmbus::packet_data_inband) return errc::unknown_message_type;
  const auto payload = packet.subspan(std::size_t{d->offset8} * 8);
  if (payload.size() != invalidate::wire_size - vmbus::descriptor_size) return errc::malformed_message;
  if (auto e = detail::expect_type(payload, message_type::invalidate_block); e != no_error) return e;
  auto slot = decode_wslot(le::load_u32(packet.data() + 20));
  if (!slot) return slot.error();
  return invalidate{*slot, block_mask{le::load_u64(packet.data() + 24)}};
}

}  // namespace vpci::hyperv
