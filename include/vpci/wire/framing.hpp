// Stream framing for the Hyper-V binding: VMBus packets carried over a byte stream (local socket, TCP).
//
// A frame is a u32 little-endian length L followed by L bytes: one VMBus packet (the 16-byte
// descriptor, then the payload) as VMBus would carry it, padded with zeros to len8 * 8 bytes. VMBus
// delimits packets itself; a byte stream does not, so the prefix restores the packet boundary. Senders
// write L = len8 * 8 (every encoder here pads); receivers take any L from 16 to 16384, so the unpadded
// packets earlier vpci peers sent (up to 7 bytes short of len8 * 8) still decode: the descriptor and
// message decoders check the rest. 16384 is the vPCI channel's ring (pci-hyperv.c opens it with
// pci_ring_size, 16 KiB each way): no packet on that channel is longer. The protocol's own messages are
// at most 168 bytes (a full 128-byte write as Linux sends it: 16 + 16 + 128 + 4 reserved = 164, padded),
// but the channel carries longer ones a relay passes on (RESOURCES_ASSIGNED2, 224 bytes; BUS_RELATIONS2,
// 24 + 28 bytes per function), which a PF answers STATUS_BAD_DATA and a VF drops. Of a longer packet the
// decoder keeps the first 168 bytes, where every field of every message lies, and skips the rest; it
// hands out those bytes with the packet's whole length, which the descriptor check needs. Any other L
// means the peer is not speaking this protocol or the stream lost sync; nothing after it can be trusted,
// so the decoder's error is sticky and the caller closes the stream.
//
// Freestanding: no heap, no exceptions; the decoder keeps at most 4 + 168 bytes of a frame in a fixed
// buffer.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include <vpci/block/endian.hpp>
#include <vpci/protocol/constants.hpp>
#include <vpci/protocol/result.hpp>
#include <vpci/wire/hyperv.hpp>

namespace vpci::hyperv {

inline constexpr std::size_t frame_prefix_size = 4;
// The smallest packet: a bare descriptor.
inline constexpr std::size_t min_frame_packet_size = vmbus::descriptor_size;
// The largest packet a receiver takes: the vPCI channel's ring, 16 KiB (see the top of this file).
inline constexpr std::size_t max_frame_packet_size = 16384;
// The largest frame vpci writes, and as much of one as the decoder keeps: prefix and the protocol's
// largest packet, a full write with the Linux reserved tail, padded (4 + 168).
inline constexpr std::size_t max_frame_size = frame_prefix_size + vmbus::max_packet_size;

// Exact frame sizes of the fixed-size messages, for sizing buffers.
inline constexpr std::size_t read_request_frame_size =
    frame_prefix_size + vmbus::padded(vmbus::descriptor_size + read_request::wire_size);
inline constexpr std::size_t write_completion_frame_size = frame_prefix_size + write_completion::wire_size;
inline constexpr std::size_t invalidate_frame_size = frame_prefix_size + invalidate::wire_size;
inline constexpr std::size_t version_request_frame_size =
    frame_prefix_size + vmbus::padded(vmbus::descriptor_size + version_request::wire_size);
inline constexpr std::size_t version_response_frame_size = frame_prefix_size + version_response::wire_size;
// A write request frame carrying `byte_count` bytes (with or without the Linux tail), padded.
[[nodiscard]] constexpr std::size_t write_request_frame_size(std::size_t byte_count, bool with_linux_tail) noexcept {
  return frame_prefix_size + vmbus::padded(vmbus::descriptor_size + write_request::header_size + byte_count +
                                           (with_linux_tail ? write_request::linux_reserved_tail : 0));
}
// The largest frame a PF sends: a read response carrying a full block, padded (4 + 152).
inline constexpr std::size_t max_response_frame_size = frame_prefix_size + read_response::max_wire_size;

[[nodiscard]] constexpr bool valid_frame_packet_size(std::size_t size) noexcept {
  return size >= min_frame_packet_size && size <= max_frame_packet_size;
}

namespace detail {
constexpr void store_frame_prefix(std::size_t packet_size, std::byte* out) noexcept {
  le::store_u32(out, static_cast<std::uint32_t>(packet_size));
}

// Wraps an encoded request payload (already at out + prefix + descriptor, payload_size bytes) into a VF
// request packet: in-band data, payload right after the descriptor, completion requested, padded with
// zeros to len8 * 8 as vmbus_sendpacket does. The caller checked that `out` holds the padded frame.
constexpr std::size_t finish_request_frame(std::uint64_t transaction_id, std::size_t payload_size,
                                           std::span<std::byte> out) noexcept {
  const std::size_t message_size = vmbus::descriptor_size + payload_size;
  const std::size_t packet_size = vmbus::padded(message_size);
  vmbus::store_descriptor(vmbus::make_descriptor(vmbus::packet_data_inband, packet_size, transaction_id,
                                                 vmbus::flag_completion_requested),
                          out.data() + frame_prefix_size);
  zero(out.data() + frame_prefix_size + message_size, out.data() + frame_prefix_size + packet_size);
  store_frame_prefix(packet_size, out.data());
  return frame_prefix_size + packet_size;
}

// Encodes a request payload behind prefix and descriptor, after checking `out` holds the whole padded
// frame (frame_size bytes), so a refusal writes nothing.
template <class Encode>
constexpr result<std::size_t> encode_request_frame(std::uint64_t transaction_id, std::size_t frame_size,
                                                   std::span<std::byte> out, Encode encode_payload) noexcept {
  constexpr std::size_t header = frame_prefix_size + vmbus::descriptor_size;
  if (out.size() < frame_size) return errc::buffer_too_small;
  auto payload_size = encode_payload(out.subspan(header));
  if (!payload_size) return payload_size.error();
  return finish_request_frame(transaction_id, *payload_size, out);
}

// Encodes a packet-level message (which already carries its descriptor and padding) behind a prefix.
template <class Message>
constexpr result<std::size_t> encode_packet_frame(const Message& message, std::span<std::byte> out) noexcept {
  if (out.size() < frame_prefix_size) return errc::buffer_too_small;
  auto packet_size = encode(message, out.subspan(frame_prefix_size));
  if (!packet_size) return packet_size.error();
  store_frame_prefix(*packet_size, out.data());
  return frame_prefix_size + *packet_size;
}
}  // namespace detail

// Each encoder writes prefix + padded packet at the start of `out` and returns the frame size. On any
// error (invalid argument or length, `out` too small) nothing is written. `out` is checked against the
// whole padded frame before the message's fields.

// The VF's READ_BLOCK request frame (36 bytes: L = 32).
[[nodiscard]] constexpr result<std::size_t> encode_read_request_frame(std::uint64_t transaction_id,
                                                                      const read_request& request,
                                                                      std::span<std::byte> out) noexcept {
  return detail::encode_request_frame(transaction_id, read_request_frame_size, out,
                                      [&](std::span<std::byte> payload) { return encode(request, payload); });
}

// The VF's WRITE_BLOCK request frame: write_request_frame_size(n, with_linux_tail) bytes, e.g. 5 bytes of
// data as Linux sends them: L = 16 + 16 + 5 + 4 = 41, padded to 48, frame 52. The data length decides the
// frame size, so it is checked first: 0 or above 128 bytes is invalid_length whatever the size of `out`.
[[nodiscard]] constexpr result<std::size_t> encode_write_request_frame(std::uint64_t transaction_id,
                                                                       const write_request& request,
                                                                       std::span<std::byte> out,
                                                                       bool with_linux_tail = false) noexcept {
  if (!valid_block_length(request.data.size())) return errc::invalid_length;
  return detail::encode_request_frame(
      transaction_id, write_request_frame_size(request.data.size(), with_linux_tail), out,
      [&](std::span<std::byte> payload) { return encode(request, payload, with_linux_tail); });
}

// The VF's QUERY_PROTOCOL_VERSION request frame (28 bytes: L = 24).
[[nodiscard]] constexpr result<std::size_t> encode_version_request_frame(std::uint64_t transaction_id,
                                                                         const version_request& request,
                                                                         std::span<std::byte> out) noexcept {
  return detail::encode_request_frame(transaction_id, version_request_frame_size, out,
                                      [&](std::span<std::byte> payload) { return encode(request, payload); });
}

// The PF's answer to a read: 4 + padded(20 + data) bytes (28 for a failure).
[[nodiscard]] constexpr result<std::size_t> encode_read_response_frame(const read_response& response,
                                                                       std::span<std::byte> out) noexcept {
  return detail::encode_packet_frame(response, out);
}

// The PF's answer to a write (28 bytes: L = 24).
[[nodiscard]] constexpr result<std::size_t> encode_write_completion_frame(const write_completion& completion,
                                                                          std::span<std::byte> out) noexcept {
  return detail::encode_packet_frame(completion, out);
}

// The PF's answer to a version request (28 bytes: L = 24).
[[nodiscard]] constexpr result<std::size_t> encode_version_response_frame(const version_response& response,
                                                                          std::span<std::byte> out) noexcept {
  return detail::encode_packet_frame(response, out);
}

// The PF's INVALIDATE_BLOCK doorbell (36 bytes: L = 32).
[[nodiscard]] constexpr result<std::size_t> encode_invalidate_frame(const invalidate& message,
                                                                    std::span<std::byte> out) noexcept {
  return detail::encode_packet_frame(message, out);
}

// Incremental frame decoder: feed whatever the stream delivered (any chunking, one byte at a time
// included) and take complete packets out, one per call.
//
//   while (!chunk.empty()) {
//     auto step = decoder.feed(chunk);
//     chunk = chunk.subspan(step.consumed);
//     if (step.error != vpci::no_error) { close the stream; break; }
//     if (!step.packet.empty()) engine.on_packet(step.packet, step.packet_size);
//   }
//   at end of stream: decoder.finish() is truncated_message when the stream was cut mid-frame.
//
// Only the length is checked here; the packet's content is the engines' business.
class frame_decoder {
 public:
  struct step {
    std::size_t consumed{0};               // bytes of the input taken
    std::span<const std::byte> packet{};  // a whole packet, or the first 168 bytes of a longer one, or
                                          // empty; valid until the next feed/reset
    std::size_t packet_size{0};           // the whole packet's length (L), packet.size() unless longer
    errc error{no_error};                 // malformed_message: bad length, sticky
  };

  constexpr frame_decoder() noexcept = default;

  // Takes bytes up to the end of the next frame. A non-empty input always advances (consumed >= 1)
  // unless the decoder is in error.
  constexpr step feed(std::span<const std::byte> input) noexcept {
    if (error_ != no_error) return {0, {}, 0, error_};
    if (packet_ready_) {
      // The previous call handed out the packet; its bytes may now be reused.
      received_ = 0;
      packet_ready_ = false;
    }
    std::size_t consumed = 0;
    if (received_ < frame_prefix_size) {
      consumed += take(input, frame_prefix_size);
      if (received_ < frame_prefix_size) return {consumed, {}, 0, no_error};
      const std::uint32_t length = le::load_u32(buffer_.data());
      if (!valid_frame_packet_size(length)) {
        error_ = errc::malformed_message;
        return {consumed, {}, 0, error_};
      }
      packet_size_ = length;
    }
    consumed += take(input.subspan(consumed), frame_prefix_size + packet_size_);
    if (received_ < frame_prefix_size + packet_size_) return {consumed, {}, 0, no_error};
    packet_ready_ = true;
    const std::size_t kept = packet_size_ < vmbus::max_packet_size ? packet_size_ : vmbus::max_packet_size;
    return {consumed, std::span<const std::byte>{buffer_.data() + frame_prefix_size, kept}, packet_size_, no_error};
  }

  // The sticky error, or no_error.
  [[nodiscard]] constexpr errc error() const noexcept { return error_; }
  // True when no partial frame is buffered (the last packet handed out counts as consumed).
  [[nodiscard]] constexpr bool at_frame_boundary() const noexcept { return received_ == 0 || packet_ready_; }
  // The verdict at end of stream: the sticky error, truncated_message when cut mid-frame, else no_error.
  [[nodiscard]] constexpr errc finish() const noexcept {
    if (error_ != no_error) return error_;
    return at_frame_boundary() ? no_error : errc::truncated_message;
  }
  // Forgets everything, the error included (a new stream).
  constexpr void reset() noexcept {
    received_ = 0;
    packet_size_ = 0;
    packet_ready_ = false;
    error_ = no_error;
  }

 private:
  // Takes input until `frame_end` bytes of the frame are received; stores what fits in the buffer and
  // skips the rest (a packet's bytes past the first 168).
  constexpr std::size_t take(std::span<const std::byte> input, std::size_t frame_end) noexcept {
    const std::size_t wanted = frame_end - received_;
    const std::size_t n = input.size() < wanted ? input.size() : wanted;
    const std::size_t room = received_ < buffer_.size() ? buffer_.size() - received_ : 0;
    le::copy(input.first(n < room ? n : room), buffer_.data() + received_);
    received_ += n;
    return n;
  }

  std::array<std::byte, max_frame_size> buffer_{};
  std::size_t received_{0};  // bytes of the current frame taken, prefix included
  std::size_t packet_size_{0};
  bool packet_ready_{false};
  errc error_{no_error};
};

}  // namespace vpci::hyperv
