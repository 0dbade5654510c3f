// Fuzz target: hyperv::decode_write_completion (struct pci_response answering a write, with its VMBus
// descriptor) and its encoders, the packet and the PF's frame.
//
// Invariants:
// - the decoder accepts exactly 20 bytes or more (as the Linux guest) with a descriptor decode_descriptor accepts and the
//   completion type; otherwise one of the reasons that apply, and no value; no read past the input;
// - encode(decode(x)) == x with the descriptor's offset8 and flags as the encoder writes them (2 and 0)
//   and the 4 bytes past the status zero: those bytes are VMBus padding, not a field (pci-hyperv.c reads
//   only the status), and an unpadded 20-byte packet comes back padded to 24;
// - the encoders on fields from the input: refuse only too small a buffer, writing nothing then; on
//   success write exactly 24 bytes (28 with the frame prefix), which decode back.
#include <array>
#include <cstddef>
#include <cstdint>

#include <vpci/wire/framing.hpp>
#include <vpci/wire/hyperv.hpp>

#include "fuzz_support.hpp"
#include "hyperv_support.hpp"

using namespace vpci;
using namespace vpci::fuzz;
using namespace vpci::hyperv;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const exact_bytes packet{as_bytes(data, size)};
  const auto x = packet.view();

  auto decoded = decode_write_completion(x);
  const bool size_ok = size >= write_completion::message_size;
  const bool descriptor_ok = descriptor_acceptable(x);
  const bool completion = size >= 2 && le::load_u16(x.data()) == vmbus::packet_completion;
  VPCI_FUZZ_CHECK(decoded.has_value() == (size_ok && descriptor_ok && completion));
  VPCI_FUZZ_CHECK(refused_cleanly(decoded));
  if (!decoded) {
    const errc e = decoded.error();
    VPCI_FUZZ_CHECK((e == errc::truncated_message && size < write_completion::message_size) ||
                    (e == errc::malformed_message && !descriptor_ok) ||
                    (e == errc::unknown_message_type && !completion));
  } else {
    VPCI_FUZZ_CHECK(decoded->transaction_id == transaction_id_of(x));
    VPCI_FUZZ_CHECK(static_cast<std::uint32_t>(decoded->status) == le::load_u32(x.data() + 16));
    const auto expected = canonical_packet(x.first(write_completion::message_size), write_completion::wire_size,
                                           vmbus::packet_completion, decoded->transaction_id);
    std::array<std::byte, write_completion::wire_size> out{};
    auto n = encode(*decoded, out);
    VPCI_FUZZ_CHECK(n.has_value() && *n == out.size() && equal(out, expected));
    std::array<std::byte, write_completion_frame_size> frame{};
    auto f = encode_write_completion_frame(*decoded, frame);
    VPCI_FUZZ_CHECK(f.has_value() && *f == frame.size());
    frame_decoder decoder;
    VPCI_FUZZ_CHECK(equal(deframe(decoder, frame), expected));
  }

  input_reader in{x};
  const write_completion m{in.u64(), static_cast<ntstatus>(in.u32())};
  const std::size_t room = in.u8() % 40;
  sentinel_buffer out{room};
  auto n = encode(m, out.span());
  VPCI_FUZZ_CHECK(n.has_value() == (room >= write_completion::wire_size));
  if (!n) {
    VPCI_FUZZ_CHECK(n.error() == errc::buffer_too_small && out.untouched_from(0));
  } else {
    VPCI_FUZZ_CHECK(*n == write_completion::wire_size && out.untouched_from(*n));
    auto back = decode_write_completion(out.view().first(*n));
    VPCI_FUZZ_CHECK(back.has_value() && *back == m);
  }
  sentinel_buffer frame{room};
  auto f = encode_write_completion_frame(m, frame.span());
  VPCI_FUZZ_CHECK(f.has_value() == (room >= write_completion_frame_size));
  if (!f) {
    VPCI_FUZZ_CHECK(frame.untouched_from(0));
  } else {
    VPCI_FUZZ_CHECK(*f == write_completion_frame_size && frame.untouched_from(*f));
    frame_decoder decoder;
    auto back = decode_write_completion(deframe(decoder, frame.view().first(*f)));
    VPCI_FUZZ_CHECK(back.has_value() && *back == m);
  }
  return 0;
}
