// Fuzz target: hyperv::decode_version_request (struct pci_version_request, the payload after the
// descriptor) and its encoders, the payload one and the VF's request frame.
//
// Invariants:
// - the decoder accepts exactly the QUERY_PROTOCOL_VERSION type in 8 to 16 bytes (Linux's 8, the Hyper-V
//   header's 12 and its padding; any version value: an unknown one is answered, not refused), else
//   truncated_message / unknown_message_type / malformed_message as they apply, with no value; no read
//   past the input;
// - encode(decode(x)) == the first 8 bytes of x (type and version: what follows is not kept), and the
//   request frame of the decoded request carries them behind an in-band descriptor and decodes back;
// - the encoders on a version from the input: refuse only too small a buffer and write nothing then; on
//   success write exactly the bytes they report.
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
  const exact_bytes payload{as_bytes(data, size)};
  const auto x = payload.view();

  auto decoded = decode_version_request(x);
  const bool type_ok =
      size >= 4 && le::load_u32(x.data()) == static_cast<std::uint32_t>(message_type::query_protocol_version);
  constexpr std::size_t longest = 16;  // the 12-byte form padded to 8
  VPCI_FUZZ_CHECK(decoded.has_value() == (type_ok && size >= version_request::wire_size && size <= longest));
  VPCI_FUZZ_CHECK(refused_cleanly(decoded));
  if (!decoded) {
    const errc e = decoded.error();
    VPCI_FUZZ_CHECK((e == errc::truncated_message && size < version_request::wire_size) ||
                    (e == errc::unknown_message_type && !type_ok) ||
                    (e == errc::malformed_message && size > longest));
  } else {
    std::array<std::byte, version_request::wire_size> again{};
    auto n = encode(*decoded, again);
    VPCI_FUZZ_CHECK(n.has_value() && *n == again.size() && equal(again, x.first(again.size())));

    std::array<std::byte, version_request_frame_size> frame{};
    const std::uint64_t id = 0xFEDCBA9876543210u;
    auto f = encode_version_request_frame(id, *decoded, frame);
    VPCI_FUZZ_CHECK(f.has_value() && *f == frame.size());
    frame_decoder decoder;
    (void)deframe(decoder, frame);
    auto back = decode_version_request(request_frame_payload(frame, id, version_request::wire_size));
    VPCI_FUZZ_CHECK(back.has_value() && *back == *decoded);
  }

  input_reader in{x};
  const version_request m{in.u32()};
  const std::size_t room = in.u8() % 40;
  const std::uint64_t id = in.u64();
  sentinel_buffer out{room};
  auto n = encode(m, out.span());
  VPCI_FUZZ_CHECK(n.has_value() == (room >= version_request::wire_size));
  if (!n) {
    VPCI_FUZZ_CHECK(n.error() == errc::buffer_too_small && out.untouched_from(0));
  } else {
    VPCI_FUZZ_CHECK(*n == version_request::wire_size && out.untouched_from(*n));
    auto back = decode_version_request(out.view().first(*n));
    VPCI_FUZZ_CHECK(back.has_value() && *back == m);
  }
  sentinel_buffer frame{room};
  auto f = encode_version_request_frame(id, m, frame.span());
  VPCI_FUZZ_CHECK(f.has_value() == (room >= version_request_frame_size));
  if (!f) {
    VPCI_FUZZ_CHECK(f.error() == errc::buffer_too_small && frame.untouched_from(0));
  } else {
    VPCI_FUZZ_CHECK(*f == version_request_frame_size && frame.untouched_from(*f));
    auto back = decode_version_request(request_frame_payload(frame.view().first(*f), id, version_request::wire_size));
    VPCI_FUZZ_CHECK(back.has_value() && *back == m);
  }
  return 0;
}
