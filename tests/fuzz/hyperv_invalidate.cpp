// Fuzz target: hyperv::decode_invalidate (struct pci_dev_inval_block with its VMBus descriptor, the PF's
// doorbell) and its encoders, the packet and the PF's frame.
//
// Invariants:
// - the decoder accepts exactly 32 bytes or more (the bytes after the mask ignored, as the Linux guest does)
//   with a descriptor decode_descriptor accepts, the in-band type,
//   the payload right after the descriptor (16 bytes of it), the INVALIDATE_BLOCK type and no reserved
//   wslot bit; otherwise one of the reasons that apply, and no value; no read past the input;
// - encode(decode(x)) == x with the descriptor's flags and transaction ID as the encoder writes them (0
//   and 0): the message carries neither (a doorbell answers nothing);
// - the encoders on fields from the input: refuse exactly a slot out of range or too small a buffer,
//   writing nothing then; on success write exactly 32 bytes (36 with the prefix), which decode back.
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

  auto decoded = decode_invalidate(x);
  const bool size_ok = size >= invalidate::wire_size;
  const bool descriptor_ok = descriptor_acceptable(x);
  const bool in_band = size >= 2 && le::load_u16(x.data()) == vmbus::packet_data_inband;
  const bool offset_ok = size < 4 || std::size_t{le::load_u16(x.data() + 2)} * 8 == vmbus::descriptor_size;
  const bool type_ok =
      size >= 20 && le::load_u32(x.data() + 16) == static_cast<std::uint32_t>(message_type::invalidate_block);
  const bool slot_ok = size < 24 || (le::load_u32(x.data() + 20) & ~0xFFu) == 0;
  VPCI_FUZZ_CHECK(decoded.has_value() == (size_ok && descriptor_ok && in_band && offset_ok && type_ok && slot_ok));
  VPCI_FUZZ_CHECK(refused_cleanly(decoded));
  if (!decoded) {
    const errc e = decoded.error();
    VPCI_FUZZ_CHECK(
        (e == errc::truncated_message && size < invalidate::wire_size) ||
        (e == errc::malformed_message && (!descriptor_ok || !offset_ok || !slot_ok)) ||
        (e == errc::unknown_message_type && (!in_band || !type_ok)));
  } else {
    VPCI_FUZZ_CHECK(decoded->mask.bits() == le::load_u64(x.data() + 24));
    const auto expected = canonical_packet(x, invalidate::wire_size, vmbus::packet_data_inband, 0);
    std::array<std::byte, invalidate::wire_size> out{};
    auto n = encode(*decoded, out);
    VPCI_FUZZ_CHECK(n.has_value() && *n == out.size() && equal(out, expected));
    std::array<std::byte, invalidate_frame_size> frame{};
    auto f = encode_invalidate_frame(*decoded, frame);
    VPCI_FUZZ_CHECK(f.has_value() && *f == frame.size());
    frame_decoder decoder;
    VPCI_FUZZ_CHECK(equal(deframe(decoder, frame), expected));
  }

  input_reader in{x};
  const invalidate m{wslot{in.u8(), in.u8()}, block_mask{in.u64()}};
  const std::size_t room = in.u8() % 48;
  const bool slot_valid = m.slot.device <= 31 && m.slot.function <= 7;
  sentinel_buffer out{room};
  auto n = encode(m, out.span());
  VPCI_FUZZ_CHECK(n.has_value() == (slot_valid && room >= invalidate::wire_size));
  if (!n) {
    VPCI_FUZZ_CHECK(out.untouched_from(0) && one_of(n.error(), errc::invalid_argument, errc::buffer_too_small));
  } else {
    VPCI_FUZZ_CHECK(*n == invalidate::wire_size && out.untouched_from(*n));
    auto back = decode_invalidate(out.view().first(*n));
    VPCI_FUZZ_CHECK(back.has_value() && *back == m);
  }
  sentinel_buffer frame{room};
  auto f = encode_invalidate_frame(m, frame.span());
  VPCI_FUZZ_CHECK(f.has_value() == (slot_valid && room >= invalidate_frame_size));
  if (!f) {
    VPCI_FUZZ_CHECK(frame.untouched_from(0));
  } else {
    VPCI_FUZZ_CHECK(*f == invalidate_frame_size && frame.untouched_from(*f));
    frame_decoder decoder;
    auto back = decode_invalidate(deframe(decoder, frame.view().first(*f)));
    VPCI_FUZZ_CHECK(back.has_value() && *back == m);
  }
  return 0;
}
