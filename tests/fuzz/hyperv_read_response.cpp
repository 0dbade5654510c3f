// Fuzz target: hyperv::decode_read_response (struct pci_read_block_response with its VMBus descriptor, as
// the VF's channel callback sees it) and its encoders, the packet and the PF's response frame.
//
// Invariants:
// - the decoder accepts exactly what its contract allows: 20 bytes or more (a VF takes longer packets, as the
//   Linux guest does), a descriptor decode_descriptor
//   accepts, a completion packet, and not a success with no byte after the status; otherwise one of the
//   reasons that apply, and no value; no read past the input;
// - data is every byte after the status, a view inside the input; data_for(n) is its first min(n, size);
// - encode(decode(x)) == x with what the message does not carry set as the encoder sets it: the
//   descriptor's offset8 (2) and flags (0); the padding (zeros: no length field tells data from padding,
//   so it comes back as data, and re-encoding pads again); a success carries at most 128 bytes (a padded
//   full block has up to 4 bytes of padding that decode as data); a failure carries no data at all;
// - the encoders, on fields and data from the input: refuse exactly a success without 1..128 bytes, a
//   failure with data, or too small a buffer, writing nothing then; on success write exactly the padded
//   packet (zero padding) they report, which decodes back, and the frame's prefix is its size.
#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <vpci/wire/framing.hpp>
#include <vpci/wire/hyperv.hpp>

#include "fuzz_support.hpp"
#include "hyperv_support.hpp"

using namespace vpci;
using namespace vpci::fuzz;
using namespace vpci::hyperv;

namespace {

void check_decode(std::span<const std::byte> input) {
  const exact_bytes packet{input};
  const auto x = packet.view();
  const std::size_t size = x.size();
  auto decoded = decode_read_response(x);

  const bool size_ok = size >= read_response::header_size;
  const bool descriptor_ok = descriptor_acceptable(x);
  const bool completion = size >= 2 && le::load_u16(x.data()) == vmbus::packet_completion;
  const bool success = size >= 20 && le::load_u32(x.data() + 16) == 0;
  const bool not_empty = !success || size > read_response::header_size;
  VPCI_FUZZ_CHECK(decoded.has_value() == (size_ok && descriptor_ok && completion && not_empty));
  if (!decoded) {
    VPCI_FUZZ_CHECK(decoded->transaction_id == 0 && decoded->status == ntstatus::success && decoded->data.empty());
    const errc e = decoded.error();
    VPCI_FUZZ_CHECK((e == errc::truncated_message && size < read_response::header_size) ||
                    (e == errc::malformed_message && !descriptor_ok) ||
                    (e == errc::unknown_message_type && !completion) || (e == errc::empty_response && !not_empty));
    return;
  }

  VPCI_FUZZ_CHECK(decoded->transaction_id == transaction_id_of(x));
  VPCI_FUZZ_CHECK(static_cast<std::uint32_t>(decoded->status) == le::load_u32(x.data() + 16));
  VPCI_FUZZ_CHECK(within(decoded->data, x) && decoded->data.data() == x.data() + read_response::header_size);
  VPCI_FUZZ_CHECK(decoded->data.size() == size - read_response::header_size);
  for (const std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{128}, size, size + 1}) {
    const auto taken = decoded->data_for(n);
    VPCI_FUZZ_CHECK(taken.data() == decoded->data.data());
    VPCI_FUZZ_CHECK(taken.size() == (n < decoded->data.size() ? n : decoded->data.size()));
  }

  read_response again = *decoded;
  again.data = decoded->status == ntstatus::success ? decoded->data_for(max_block_size) : std::span<const std::byte>{};
  const std::size_t encoded_size = vmbus::padded(read_response::header_size + again.data.size());
  const auto expected = canonical_packet(x.first(read_response::header_size + again.data.size()), encoded_size,
                                         vmbus::packet_completion, decoded->transaction_id);
  std::array<std::byte, read_response::max_wire_size> out{};
  auto n = encode(again, out);
  VPCI_FUZZ_CHECK(n.has_value() && *n == encoded_size && equal(std::span{out}.first(*n), expected));

  std::array<std::byte, max_response_frame_size> frame{};
  auto f = encode_read_response_frame(again, frame);
  VPCI_FUZZ_CHECK(f.has_value() && *f == frame_prefix_size + encoded_size);
  VPCI_FUZZ_CHECK(le::load_u32(frame.data()) == encoded_size);
  frame_decoder decoder;
  VPCI_FUZZ_CHECK(equal(deframe(decoder, std::span{frame}.first(*f)), expected));
}

void check_encode(std::span<const std::byte> input) {
  input_reader in{input};
  const std::uint64_t id = in.u64();
  // A success most of the time, else any status.
  const std::uint8_t pick = in.u8();
  const std::uint32_t raw_status = in.u32();
  const auto status = static_cast<ntstatus>(pick & 1 ? raw_status : 0);
  const std::size_t room = in.u8();
  const std::size_t length = in.u8() % 160;
  const exact_bytes data{in.take(length)};
  const read_response m{id, status, data.view()};
  const bool fields_ok = status == ntstatus::success ? valid_block_length(m.data.size()) : m.data.empty();
  const std::size_t message_size = read_response::header_size + m.data.size();
  const std::size_t size = vmbus::padded(message_size);

  sentinel_buffer out{room};
  auto n = encode(m, out.span());
  VPCI_FUZZ_CHECK(n.has_value() == (fields_ok && room >= size));
  if (!n) {
    VPCI_FUZZ_CHECK(out.untouched_from(0) && one_of(n.error(), errc::invalid_length, errc::buffer_too_small));
  } else {
    VPCI_FUZZ_CHECK(*n == size && out.untouched_from(size));
    const auto packet = out.view().first(size);
    for (std::size_t i = message_size; i < size; ++i) VPCI_FUZZ_CHECK(packet[i] == std::byte{0});
    auto back = decode_read_response(packet);
    VPCI_FUZZ_CHECK(back.has_value() && back->transaction_id == id && back->status == status);
    VPCI_FUZZ_CHECK(equal(back->data_for(m.data.size()), m.data));
    VPCI_FUZZ_CHECK(back->data.size() == size - read_response::header_size);
  }

  sentinel_buffer frame{room};
  auto f = encode_read_response_frame(m, frame.span());
  VPCI_FUZZ_CHECK(f.has_value() == (fields_ok && room >= frame_prefix_size + size));
  if (!f) {
    VPCI_FUZZ_CHECK(frame.untouched_from(0));
  } else {
    VPCI_FUZZ_CHECK(*f == frame_prefix_size + size && frame.untouched_from(*f));
    VPCI_FUZZ_CHECK(le::load_u32(frame.view().data()) == size);
    frame_decoder decoder;
    auto back = decode_read_response(deframe(decoder, frame.view().first(*f)));
    VPCI_FUZZ_CHECK(back.has_value() && equal(back->data_for(m.data.size()), m.data));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  check_decode(as_bytes(data, size));
  check_encode(as_bytes(data, size));
  return 0;
}
