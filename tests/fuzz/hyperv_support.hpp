// Shared by the Hyper-V fuzz targets: the VMBus descriptor contract restated independently of the decoder,
// and the round trip of a request payload through its stream frame.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include <vpci/block/endian.hpp>
#include <vpci/wire/framing.hpp>
#include <vpci/wire/hyperv.hpp>

#include "fuzz_support.hpp"

namespace vpci::fuzz {

// decode_descriptor's contract, from its comment: 16 bytes at least; the payload offset inside the packet
// and after the descriptor; len8 * 8 the packet's size rounded up to 8.
inline bool descriptor_acceptable(std::span<const std::byte> packet) noexcept {
  if (packet.size() < hyperv::vmbus::descriptor_size) return false;
  const std::size_t offset = std::size_t{le::load_u16(packet.data() + 2)} * 8;
  const std::size_t length = std::size_t{le::load_u16(packet.data() + 4)} * 8;
  return offset >= hyperv::vmbus::descriptor_size && offset <= packet.size() &&
         length == hyperv::vmbus::padded(packet.size());
}

inline std::uint64_t transaction_id_of(std::span<const std::byte> packet) noexcept {
  return le::load_u64(packet.data() + 8);
}

// `packet` as an encoder emits the message it decodes to: its first `size` bytes (zeros past its end), with
// the descriptor the encoders write (payload right after it, no flags, len8 for `size`). The fields this
// replaces are the ones the message types do not carry.
inline std::vector<std::byte> canonical_packet(std::span<const std::byte> packet, std::size_t size,
                                               std::uint16_t type, std::uint64_t transaction_id) {
  std::vector<std::byte> out(size);
  for (std::size_t i = 0; i < size && i < packet.size(); ++i) out[i] = packet[i];
  hyperv::vmbus::store_descriptor(hyperv::vmbus::make_descriptor(type, size, transaction_id), out.data());
  return out;
}

// A request frame as a VF sends it: prefix, in-band descriptor asking for a completion, the payload right
// after it, zeros to len8 * 8. Checks the frame's layout and returns its payload (empty when broken).
inline std::span<const std::byte> request_frame_payload(std::span<const std::byte> frame, std::uint64_t transaction_id,
                                                        std::size_t payload_size) {
  namespace vmbus = hyperv::vmbus;
  const std::size_t packet_size = vmbus::padded(vmbus::descriptor_size + payload_size);
  VPCI_FUZZ_CHECK(frame.size() == hyperv::frame_prefix_size + packet_size);
  VPCI_FUZZ_CHECK(le::load_u32(frame.data()) == packet_size);
  const auto packet = frame.subspan(hyperv::frame_prefix_size);
  auto d = vmbus::decode_descriptor(packet);
  VPCI_FUZZ_CHECK(d.has_value());
  VPCI_FUZZ_CHECK(d->type == vmbus::packet_data_inband);
  VPCI_FUZZ_CHECK(d->flags == vmbus::flag_completion_requested);
  VPCI_FUZZ_CHECK(d->transaction_id == transaction_id);
  VPCI_FUZZ_CHECK(std::size_t{d->offset8} * 8 == vmbus::descriptor_size);
  for (std::size_t i = vmbus::descriptor_size + payload_size; i < packet.size(); ++i)
    VPCI_FUZZ_CHECK(packet[i] == std::byte{0});
  return packet.subspan(vmbus::descriptor_size);
}

// Every frame decodes through frame_decoder as one packet, fed whole.
inline std::span<const std::byte> deframe(hyperv::frame_decoder& decoder, std::span<const std::byte> frame) {
  auto step = decoder.feed(frame);
  VPCI_FUZZ_CHECK(step.error == no_error);
  VPCI_FUZZ_CHECK(step.consumed == frame.size());
  VPCI_FUZZ_CHECK(step.packet.size() + hyperv::frame_prefix_size == frame.size());
  VPCI_FUZZ_CHECK(decoder.finish() == no_error);
  return step.packet;
}

}  // namespace vpci::fuzz
