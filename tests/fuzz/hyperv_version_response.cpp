// Fuzz target: hyperv::decode_version_response (the answer to QUERY_PROTOCOL_VERSION with its VMBus
// descriptor), judge_version_status, and the encoders, the packet and the PF's frame.
//
// Invariants:
// - the decoder accepts exactly 20 bytes or more (as the Linux guest) with a descriptor decode_descriptor accepts and the
//   completion type; otherwise one of the reasons that apply, and no value; no read past the input;
// - the version is read only when its 4 bytes are all present (else 0);
// - encode(decode(x)) == x with the descriptor's offset8 and flags as the encoder writes them (2 and 0)
//   and, for a 20..23-byte packet, bytes 20..23 zero: a partial version word is not a field;
// - judge_version_status: accepted exactly for non-negative statuses, next_version exactly for
//   STATUS_REVISION_MISMATCH, failed otherwise;
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

  auto decoded = decode_version_response(x);
  const bool size_ok = size >= version_response::min_size;
  const bool descriptor_ok = descriptor_acceptable(x);
  const bool completion = size >= 2 && le::load_u16(x.data()) == vmbus::packet_completion;
  VPCI_FUZZ_CHECK(decoded.has_value() == (size_ok && descriptor_ok && completion));
  VPCI_FUZZ_CHECK(refused_cleanly(decoded));
  if (!decoded) {
    const errc e = decoded.error();
    VPCI_FUZZ_CHECK((e == errc::truncated_message && size < version_response::min_size) ||
                    (e == errc::malformed_message && !descriptor_ok) ||
                    (e == errc::unknown_message_type && !completion));
  } else {
    VPCI_FUZZ_CHECK(decoded->transaction_id == transaction_id_of(x));
    VPCI_FUZZ_CHECK(static_cast<std::uint32_t>(decoded->status) == le::load_u32(x.data() + 16));
    VPCI_FUZZ_CHECK(decoded->version == (size >= version_response::wire_size ? le::load_u32(x.data() + 20) : 0));
    const std::size_t fields = size >= version_response::wire_size ? version_response::wire_size : version_response::min_size;
    const auto expected =
        canonical_packet(x.first(fields), version_response::wire_size, vmbus::packet_completion, decoded->transaction_id);
    std::array<std::byte, version_response::wire_size> out{};
    auto n = encode(*decoded, out);
    VPCI_FUZZ_CHECK(n.has_value() && *n == out.size() && equal(out, expected));
    std::array<std::byte, version_response_frame_size> frame{};
    auto f = encode_version_response_frame(*decoded, frame);
    VPCI_FUZZ_CHECK(f.has_value() && *f == frame.size());
    frame_decoder decoder;
    VPCI_FUZZ_CHECK(equal(deframe(decoder, frame), expected));

    const auto verdict = judge_version_status(decoded->status);
    const auto raw = static_cast<std::uint32_t>(decoded->status);
    VPCI_FUZZ_CHECK((verdict == version_verdict::accepted) == (raw < 0x80000000u));
    VPCI_FUZZ_CHECK((verdict == version_verdict::next_version) ==
                    (decoded->status == ntstatus::revision_mismatch));
  }

  input_reader in{x};
  const version_response m{in.u64(), static_cast<ntstatus>(in.u32()), in.u32()};
  const std::size_t room = in.u8() % 40;
  sentinel_buffer out{room};
  auto n = encode(m, out.span());
  VPCI_FUZZ_CHECK(n.has_value() == (room >= version_response::wire_size));
  if (!n) {
    VPCI_FUZZ_CHECK(n.error() == errc::buffer_too_small && out.untouched_from(0));
  } else {
    VPCI_FUZZ_CHECK(*n == version_response::wire_size && out.untouched_from(*n));
    auto back = decode_version_response(out.view().first(*n));
    VPCI_FUZZ_CHECK(back.has_value() && *back == m);
  }
  sentinel_buffer frame{room};
  auto f = encode_version_response_frame(m, frame.span());
  VPCI_FUZZ_CHECK(f.has_value() == (room >= version_response_frame_size));
  if (!f) {
    VPCI_FUZZ_CHECK(frame.untouched_from(0));
  } else {
    VPCI_FUZZ_CHECK(*f == version_response_frame_size && frame.untouched_from(*f));
    frame_decoder decoder;
    auto back = decode_version_response(deframe(decoder, frame.view().first(*f)));
    VPCI_FUZZ_CHECK(back.has_value() && *back == m);
  }
  return 0;
}
