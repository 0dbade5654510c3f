// Byte-exact codecs for the Hyper-V vPCI block and version messages (Linux pci-hyperv.c layouts; packed,
// little-endian).
//
// Requests (read, write, version query) are the payloads a guest hands to vmbus_sendpacket; responses and
// the invalidate message include the 16-byte VMBus packet descriptor, as pci-hyperv.c's channel callback
// (hv_pci_onchannelcallback, via vmbus_recvpacket_raw) sees them.
//
// Padding. VMBus describes a packet only by len8: the sender pads every packet with zeros to a multiple of
// 8 bytes (drivers/hv/channel.c, vmbus_sendpacket_getid) and the receiver is handed len8 * 8 bytes
// (drivers/hv/ring_buffer.c, hv_ringbuffer_read). So:
// - encoders of whole packets (responses, invalidate) emit the padded packet, zeros in the padding; the
//   request frames of framing.hpp pad the packet around the request payloads encoded here;
// - decoders of what a PF receives (requests) accept a message followed by trailing bytes up to the
//   padded size of its largest legal form (vmbus::padded), and refuse more as malformed_message; decoders
//   of what a VF receives (completions, invalidate) take any bytes after the message, as pci-hyperv.c,
//   which checks only lower bounds (docs/hyperv-binding.md, rule 5). Length fields (byte_count) govern,
//   never the packet length. The content of the padding is not checked: pci-hyperv.c never reads it, and
//   in a read completion it cannot even be told apart from data (no length field says where the data
//   ends).
// Decoders validate every length and field before touching the output; encoders refuse invalid arguments
// and write nothing then. The decoders of whole packets (the descriptor, and what a VF receives) also take
// the packet's whole length beside its bytes, for a receiver that kept only a long packet's first bytes
// (framing.hpp's frame_decoder keeps 168, where every field of every message lies).
#pragma once

#include <array>
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

// Protocol versions are (major << 16) | minor (PCI_MAKE_VERSION).
constexpr std::uint32_t protocol_version(std::uint16_t major, std::uint16_t minor) noexcept {
  return (std::uint32_t{major} << 16) | minor;
}
inline constexpr std::uint32_t protocol_version_1_1 = protocol_version(1, 1);  // Windows 10
inline constexpr std::uint32_t protocol_version_1_2 = protocol_version(1, 2);  // RS1
inline constexpr std::uint32_t protocol_version_1_3 = protocol_version(1, 3);  // Vibranium
inline constexpr std::uint32_t protocol_version_1_4 = protocol_version(1, 4);  // WS2022

// pci_protocol_versions[] of pci-hyperv.c: what a Linux guest offers, in the order it probes (highest first).
inline constexpr std::array<std::uint32_t, 4> linux_protocol_versions{protocol_version_1_4, protocol_version_1_3,
                                                                      protocol_version_1_2, protocol_version_1_1};

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

// The size VMBus carries a packet of `size` bytes in: rounded up to 8 (vmbus_sendpacket_getid's
// packetlen_aligned). Also the bound on trailing bytes a PF accepts after a request.
[[nodiscard]] constexpr std::size_t padded(std::size_t size) noexcept { return (size + 7) & ~std::size_t{7}; }

// The largest packet of this protocol: a full 128-byte write as Linux sends it (descriptor, 16-byte
// header, data, 4 reserved bytes), padded: 16 + 16 + 128 + 4 = 164 -> 168.
inline constexpr std::size_t max_packet_size = padded(descriptor_size + 16 + max_block_size + 4);
static_assert(max_packet_size == 168);

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
  return {type, static_cast<std::uint16_t>(descriptor_size / 8), static_cast<std::uint16_t>(padded(packet_size) / 8),
          flags, transaction_id};
}

constexpr void store_descriptor(const packet_descriptor& d, std::byte* out) noexcept {
  le::store_u16(out + 0, d.type);
  le::store_u16(out + 2, d.offset8);
  le::store_u16(out + 4, d.len8);
  le::store_u16(out + 6, d.flags);
  le::store_u64(out + 8, d.transaction_id);
}

// Which of the descriptor's checks a packet fails (decode_descriptor's rules, for a reader that says
// which field is wrong): the payload offset must lie inside the packet, after the descriptor, and len8 * 8
// must be the packet's length rounded up to 8 bytes. A packet as VMBus delivers it is exactly len8 * 8
// bytes; one up to 7 bytes shorter (the unpadded form earlier vpci peers sent on a stream) is accepted too.
// `packet` holds the whole packet, or the first bytes of one of `packet_size` bytes (a frame decoder keeps
// the first 168: framing.hpp); the checks are against `packet_size`.
enum class descriptor_fault { none, truncated, payload_offset, packet_length };
[[nodiscard]] constexpr descriptor_fault find_descriptor_fault(std::span<const std::byte> packet,
                                                               std::size_t packet_size) noexcept {
  if (packet.size() < descriptor_size || packet_size < packet.size()) return descriptor_fault::truncated;
  const std::size_t offset = std::size_t{le::load_u16(packet.data() + 2)} * 8;
  const std::size_t length = std::size_t{le::load_u16(packet.data() + 4)} * 8;
  if (offset < descriptor_size || offset > packet_size) return descriptor_fault::payload_offset;
  if (length != padded(packet_size)) return descriptor_fault::packet_length;
  return descriptor_fault::none;
}
[[nodiscard]] constexpr descriptor_fault find_descriptor_fault(std::span<const std::byte> packet) noexcept {
  return find_descriptor_fault(packet, packet.size());
}

// Decodes and checks the descriptor of a packet (find_descriptor_fault's rules).
[[nodiscard]] constexpr result<packet_descriptor> decode_descriptor(std::span<const std::byte> packet,
                                                                    std::size_t packet_size) noexcept {
  switch (find_descriptor_fault(packet, packet_size)) {
    case descriptor_fault::none: break;
    case descriptor_fault::truncated: return errc::truncated_message;
    case descriptor_fault::payload_offset:
    case descriptor_fault::packet_length: return errc::malformed_message;
  }
  return packet_descriptor{le::load_u16(packet.data() + 0), le::load_u16(packet.data() + 2),
                           le::load_u16(packet.data() + 4), le::load_u16(packet.data() + 6),
                           le::load_u64(packet.data() + 8)};
}
[[nodiscard]] constexpr result<packet_descriptor> decode_descriptor(std::span<const std::byte> packet) noexcept {
  return decode_descriptor(packet, packet.size());
}

// The payload of a packet whose descriptor decoded: from the descriptor's offset to the end of the bytes
// held. Empty when a receiver kept only bytes before the offset (a long packet's first 168), which then
// shows no type word.
[[nodiscard]] constexpr std::span<const std::byte> payload_of(std::span<const std::byte> packet,
                                                              const packet_descriptor& descriptor) noexcept {
  const std::size_t offset = std::size_t{descriptor.offset8} * 8;
  return packet.subspan(offset < packet.size() ? offset : packet.size());
}
}  // namespace vmbus

namespace detail {
// A message of `size` bytes whose legal forms span minimum..maximum bytes: fewer is truncated, more than
// the padded size of the largest form is malformed (what VMBus padding cannot explain). For what a PF
// receives (docs/hyperv-binding.md, rule 5).
constexpr errc check_size(std::size_t size, std::size_t minimum, std::size_t maximum) noexcept {
  if (size < minimum) return errc::truncated_message;
  if (size > vmbus::padded(maximum)) return errc::malformed_message;
  return no_error;
}
// What a VF receives needs at least `minimum` bytes; any more are ignored, as pci-hyperv.c checks only
// lower bounds on what the host sends (rule 5).
constexpr errc check_min_size(std::size_t size, std::size_t minimum) noexcept {
  return size < minimum ? errc::truncated_message : no_error;
}

constexpr void zero(std::byte* from, std::byte* to) noexcept {
  for (; from != to; ++from) *from = std::byte{0};
}
}  // namespace detail

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

// struct pci_read_block: type 0:4, block_id 4:4, wslot 8:4, bytes_requested 12:4. 16 bytes, a multiple of
// 8: the packet (32 bytes) never carries padding.
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
  if (auto e = detail::check_size(payload.size(), read_request::wire_size, read_request::wire_size); e != no_error)
    return e;
  auto slot = decode_wslot(le::load_u32(payload.data() + 8));
  if (!slot) return slot.error();
  const std::uint32_t length = le::load_u32(payload.data() + 12);
  if (!valid_block_length(length)) return errc::invalid_length;
  return read_request{block_id{le::load_u32(payload.data() + 4)}, *slot, length};
}

// struct pci_read_block_response: descriptor 0:16, status u32 16:4, bytes 20:n. No field carries n: the
// receiver sees every byte after the status, the data followed by the sender's padding (up to 7 bytes).
struct read_response {
  static constexpr std::size_t header_size = vmbus::descriptor_size + 4;
  // The largest packet: a full block, padded (148 -> 152 bytes).
  static constexpr std::size_t max_wire_size = vmbus::padded(header_size + max_block_size);
  std::uint64_t transaction_id{0};
  ntstatus status{ntstatus::success};
  // Encoding: the data to send. Decoding: every byte present after the status (any number: a host may send
  // more than a padded block), a view into the packet; use data_for() to take what a read returns.
  std::span<const std::byte> data{};

  // hv_pci_read_config_compl: a read of `bytes_requested` bytes returns min(requested, present) of them.
  // (pci-hyperv.c copies them only when the status is 0 and fails the read when none are returned; that
  // decision is the engine's.)
  [[nodiscard]] constexpr std::span<const std::byte> data_for(std::size_t bytes_requested) const noexcept {
    return data.first(data.size() < bytes_requested ? data.size() : bytes_requested);
  }
};

// Encodes the padded completion packet. A success must carry 1..128 bytes (a success with no data reads
// as a failure on the guest side); a failure carries none (24 bytes on the wire).
[[nodiscard]] constexpr result<std::size_t> encode(const read_response& m, std::span<std::byte> out) noexcept {
  if (m.status == ntstatus::success ? !valid_block_length(m.data.size()) : !m.data.empty())
    return errc::invalid_length;
  const std::size_t message_size = read_response::header_size + m.data.size();
  const std::size_t size = vmbus::padded(message_size);
  if (out.size() < size) return errc::buffer_too_small;
  vmbus::store_descriptor(vmbus::make_descriptor(vmbus::packet_completion, size, m.transaction_id), out.data());
  le::store_u32(out.data() + 16, static_cast<std::uint32_t>(m.status));
  le::copy(m.data, out.data() + read_response::header_size);
  detail::zero(out.data() + message_size, out.data() + size);
  return size;
}

// Accepts 20 bytes or more (a longer answer than the block plus padding too, as hv_pci_read_config_compl:
// the data is every byte after the status, of which a read takes what it asked for). Errors:
// truncated_message below 20; malformed_message for a bad descriptor; unknown_message_type when not a
// completion; empty_response for a success with no byte at all after the status (only the unpadded 20-byte
// form can say that; VMBus never delivers it).
[[nodiscard]] constexpr result<read_response> decode_read_response(std::span<const std::byte> packet,
                                                                   std::size_t packet_size) noexcept {
  if (auto e = detail::check_min_size(packet.size(), read_response::header_size); e != no_error) return e;
  auto d = vmbus::decode_descriptor(packet, packet_size);
  if (!d) return d.error();
  if (d->type != vmbus::packet_completion) return errc::unknown_message_type;
  const auto status = static_cast<ntstatus>(le::load_u32(packet.data() + 16));
  if (status == ntstatus::success && packet.size() == read_response::header_size) return errc::empty_response;
  return read_response{d->transaction_id, status, packet.subspan(read_response::header_size)};
}
[[nodiscard]] constexpr result<read_response> decode_read_response(std::span<const std::byte> packet) noexcept {
  return decode_read_response(packet, packet.size());
}

// struct pci_write_block: type 0:4, block_id 4:4, wslot 8:4, byte_count 12:4, bytes 16:n.
// hv_write_config_block sends offsetof(bytes) + n + 4 bytes: 4 reserved (zero) bytes past the data, a
// quirk for 2018-era hosts; VMBus then pads the packet.
struct write_request {
  static constexpr std::size_t header_size = 16;
  static constexpr std::size_t linux_reserved_tail = 4;
  block_id block{};
  wslot slot{};
  std::span<const std::byte> data{};

  // The largest payload a receiver accepts for `byte_count` bytes of data: header, data, the Linux tail,
  // padded (16 + n + 4 rounded up; the 16-byte descriptor before it keeps the alignment).
  [[nodiscard]] static constexpr std::size_t max_payload_size(std::size_t byte_count) noexcept {
    return vmbus::padded(header_size + byte_count + linux_reserved_tail);
  }
};

// Encodes the payload (16 + n bytes, 20 + n with the Linux tail, whose 4 bytes are zero). The frame
// encoder pads the packet around it.
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
  detail::zero(out.data() + size - tail, out.data() + size);
  return size;
}

// byte_count (1..128) says how much data there is; anything after it up to max_payload_size(byte_count)
// (the Linux tail, VMBus padding) is ignored. Errors: truncated_message when fewer bytes than byte_count
// follow the header (whatever byte_count: a message that does not hold what it says is broken, checked
// before its values, docs/hyperv-binding.md step 1); invalid_length for byte_count 0 or above 128;
// malformed_message for more trailing bytes than max_payload_size allows or a wslot with reserved bits.
[[nodiscard]] constexpr result<write_request> decode_write_request(std::span<const std::byte> payload) noexcept {
  if (auto e = detail::expect_type(payload, message_type::write_block); e != no_error) return e;
  if (payload.size() < write_request::header_size) return errc::truncated_message;
  auto slot = decode_wslot(le::load_u32(payload.data() + 8));
  if (!slot) return slot.error();
  const std::uint32_t count = le::load_u32(payload.data() + 12);
  if (payload.size() - write_request::header_size < count) return errc::truncated_message;
  if (!valid_block_length(count)) return errc::invalid_length;
  if (auto e = detail::check_size(payload.size(), write_request::header_size + count,
                                  write_request::max_payload_size(count));
      e != no_error)
    return e;
  return write_request{block_id{le::load_u32(payload.data() + 4)}, *slot,
                       payload.subspan(write_request::header_size, count)};
}

// struct pci_response for a write: descriptor 0:16, status s32 16:4 (20 bytes), padded to 24 on the wire.
struct write_completion {
  static constexpr std::size_t message_size = vmbus::descriptor_size + 4;
  static constexpr std::size_t wire_size = vmbus::padded(message_size);
  std::uint64_t transaction_id{0};
  ntstatus status{ntstatus::success};
  friend constexpr bool operator==(const write_completion&, const write_completion&) noexcept = default;
};

[[nodiscard]] constexpr result<std::size_t> encode(const write_completion& m, std::span<std::byte> out) noexcept {
  if (out.size() < write_completion::wire_size) return errc::buffer_too_small;
  vmbus::store_descriptor(vmbus::make_descriptor(vmbus::packet_completion, write_completion::wire_size, m.transaction_id),
                          out.data());
  le::store_u32(out.data() + 16, static_cast<std::uint32_t>(m.status));
  detail::zero(out.data() + write_completion::message_size, out.data() + write_completion::wire_size);
  return write_completion::wire_size;
}

// Accepts 20 bytes or more (hv_pci_write_config_compl reads only the status, at any length).
[[nodiscard]] constexpr result<write_completion> decode_write_completion(std::span<const std::byte> packet,
                                                                         std::size_t packet_size) noexcept {
  if (auto e = detail::check_min_size(packet.size(), write_completion::message_size); e != no_error) return e;
  auto d = vmbus::decode_descriptor(packet, packet_size);
  if (!d) return d.error();
  if (d->type != vmbus::packet_completion) return errc::unknown_message_type;
  return write_completion{d->transaction_id, static_cast<ntstatus>(le::load_u32(packet.data() + 16))};
}
[[nodiscard]] constexpr result<write_completion> decode_write_completion(std::span<const std::byte> packet) noexcept {
  return decode_write_completion(packet, packet.size());
}

// struct pci_dev_inval_block: descriptor 0:16, type 16:4, wslot 20:4, block_mask 24:8. 32 bytes, a
// multiple of 8, so it never carries padding.
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

// 32 bytes or more, with the payload right after the descriptor. A short invalidate is truncated (the
// Linux guest drops it as "too small"); bytes after the mask are ignored, as the Linux guest does (a
// dropped invalidate would be a doorbell lost).
[[nodiscard]] constexpr result<invalidate> decode_invalidate(std::span<const std::byte> packet,
                                                             std::size_t packet_size) noexcept {
  if (auto e = detail::check_min_size(packet.size(), invalidate::wire_size); e != no_error) return e;
  auto d = vmbus::decode_descriptor(packet, packet_size);
  if (!d) return d.error();
  if (d->type != vmbus::packet_data_inband) return errc::unknown_message_type;
  if (std::size_t{d->offset8} * 8 != vmbus::descriptor_size) return errc::malformed_message;
  const auto payload = packet.subspan(vmbus::descriptor_size);
  if (auto e = detail::expect_type(payload, message_type::invalidate_block); e != no_error) return e;
  auto slot = decode_wslot(le::load_u32(payload.data() + 4));
  if (!slot) return slot.error();
  return invalidate{*slot, block_mask{le::load_u64(payload.data() + 8)}};
}
[[nodiscard]] constexpr result<invalidate> decode_invalidate(std::span<const std::byte> packet) noexcept {
  return decode_invalidate(packet, packet.size());
}

// struct pci_version_request: type 0:4 (QUERY_PROTOCOL_VERSION), protocol_version 4:4. The first message a
// guest sends (hv_pci_protocol_negotiation). Linux sends these 8 bytes (a 24-byte packet), and so does vpci.
// The Hyper-V header's form, which pci-hyperv.c's comment describes and FreeBSD's vmbus_pcib sends, adds a
// word (is_last_attempt:1, reservedz:31): 12 bytes, padded to 16. A PF accepts both and reads the version
// only, as OpenVMM's host does; the extra word changes no answer (a guest that says it makes its last
// attempt is answered as any other).
struct version_request {
  static constexpr std::size_t wire_size = 8;
  static constexpr std::size_t max_size = 12;  // the Hyper-V header's form, before its padding
  std::uint32_t version{0};
  friend constexpr bool operator==(const version_request&, const version_request&) noexcept = default;
};

// Any version value encodes and decodes: an unknown one is answered STATUS_REVISION_MISMATCH, not refused.
[[nodiscard]] constexpr result<std::size_t> encode(const version_request& m, std::span<std::byte> out) noexcept {
  if (out.size() < version_request::wire_size) return errc::buffer_too_small;
  le::store_u32(out.data() + 0, static_cast<std::uint32_t>(message_type::query_protocol_version));
  le::store_u32(out.data() + 4, m.version);
  return version_request::wire_size;
}

[[nodiscard]] constexpr result<version_request> decode_version_request(std::span<const std::byte> payload) noexcept {
  if (auto e = detail::expect_type(payload, message_type::query_protocol_version); e != no_error) return e;
  if (auto e = detail::check_size(payload.size(), version_request::wire_size, version_request::max_size);
      e != no_error)
    return e;
  return version_request{le::load_u32(payload.data() + 4)};
}

// The answer to a version request: descriptor 0:16, status 16:4, protocol_version 20:4 (24 bytes).
// pci-hyperv.c reads only the status (hv_pci_generic_compl); a host that answers with a bare pci_response
// (20 bytes) reaches the guest padded to the same 24 bytes with zeros where the version would be. OpenVMM's
// VSP (QueryProtocolVersionReply) fills the version in; it is informational only.
struct version_response {
  static constexpr std::size_t min_size = vmbus::descriptor_size + 4;
  static constexpr std::size_t wire_size = vmbus::descriptor_size + 8;
  std::uint64_t transaction_id{0};
  ntstatus status{ntstatus::success};
  std::uint32_t version{0};  // decoding the 20-byte form: 0
  friend constexpr bool operator==(const version_response&, const version_response&) noexcept = default;
};

[[nodiscard]] constexpr result<std::size_t> encode(const version_response& m, std::span<std::byte> out) noexcept {
  if (out.size() < version_response::wire_size) return errc::buffer_too_small;
  vmbus::store_descriptor(vmbus::make_descriptor(vmbus::packet_completion, version_response::wire_size, m.transaction_id),
                          out.data());
  le::store_u32(out.data() + 16, static_cast<std::uint32_t>(m.status));
  le::store_u32(out.data() + 20, m.version);
  return version_response::wire_size;
}

// Accepts 20 bytes or more (hv_pci_generic_compl takes the status at any length); the version is read
// only when all four of its bytes are present.
[[nodiscard]] constexpr result<version_response> decode_version_response(std::span<const std::byte> packet,
                                                                         std::size_t packet_size) noexcept {
  if (auto e = detail::check_min_size(packet.size(), version_response::min_size); e != no_error) return e;
  auto d = vmbus::decode_descriptor(packet, packet_size);
  if (!d) return d.error();
  if (d->type != vmbus::packet_completion) return errc::unknown_message_type;
  const std::uint32_t version =
      packet.size() >= version_response::wire_size ? le::load_u32(packet.data() + 20) : std::uint32_t{0};
  return version_response{d->transaction_id, static_cast<ntstatus>(le::load_u32(packet.data() + 16)), version};
}
[[nodiscard]] constexpr result<version_response> decode_version_response(std::span<const std::byte> packet) noexcept {
  return decode_version_response(packet, packet.size());
}

// What a guest makes of the status answering one version it offered (hv_pci_protocol_negotiation): a
// status that is non-negative as an s32 (success and informational values) accepts the version;
// STATUS_REVISION_MISMATCH asks for the next lower one; any other status ends the negotiation (-EPROTO).
enum class version_verdict : std::uint8_t { accepted, next_version, failed };

[[nodiscard]] constexpr version_verdict judge_version_status(ntstatus status) noexcept {
  if (nt_success(status)) return version_verdict::accepted;
  if (status == ntstatus::revision_mismatch) return version_verdict::next_version;
  return version_verdict::failed;
}

}  // namespace vpci::hyperv
