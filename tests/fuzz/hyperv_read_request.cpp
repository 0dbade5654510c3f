// Fuzz target: hyperv::decode_read_request (struct pci_read_block, the payload after the descriptor) and
// its encoders, the payload one and the VF's request frame.
//
// Invariants:
// - the decoder accepts exactly what its contract allows (type, exactly 16 bytes, no reserved wslot bit,
//   a length of 1..128) and refuses anything else with one of the reasons that apply;
// - a refused decode carries no value; it reads no byte past the input (exact-size heap copy);
// - encode(decode(x)) == x: the message has no padding and every byte is a field;
// - the request frame of a decoded request is prefix + in-band descriptor + x, and decodes back to it;
// - the encoders, on fields taken from the input: they refuse exactly the invalid fields or too small a
//   buffer and write nothing then; on success they write exactly the bytes they report, which decode back.
#include <cstddef>
#include <cstdint>

#include <vpci/wire/framing.hpp>
#include <vpci/wire/hyperv.hpp>

#include "fuzz_support.hpp"
#include "hyperv_support.hpp"

using namespace vpci;
using namespace vpci::fuzz;
using namespace vpci::hyperv;

namespace {

void check_decode(std::span<const std::byte> input) {
  const exact_bytes payload{input};
  const auto x = payload.view();
  auto decoded = decode_read_request(x);

  const bool type_ok = x.size() >= 4 && le::load_u32(x.data()) == static_cast<std::uint32_t>(message_type::read_block);
  const bool size_ok = x.size() == read_request::wire_size;
  const bool slot_ok = x.size() < 12 || (le::load_u32(x.data() + 8) & ~0xFFu) == 0;
  const bool length_ok = x.size() < 16 || valid_block_length(le::load_u32(x.data() + 12));
  VPCI_FUZZ_CHECK(decoded.has_value() == (type_ok && size_ok && slot_ok && length_ok));
  VPCI_FUZZ_CHECK(refused_cleanly(decoded));
  if (!decoded) {
    const errc e = decoded.error();
    const bool explained = (e == errc::truncated_message && x.size() < read_request::wire_size) ||
                           (e == errc::unknown_message_type && !type_ok) ||
                           (e == errc::malformed_message && (x.size() > read_request::wire_size || !slot_ok)) ||
                           (e == errc::invalid_length && !length_ok);
    VPCI_FUZZ_CHECK(explained);
    return;
  }

  std::array<std::byte, read_request::wire_size> again{};
  auto n = encode(*decoded, again);
  VPCI_FUZZ_CHECK(n.has_value() && *n == read_request::wire_size);
  VPCI_FUZZ_CHECK(equal(again, x));

  const std::uint64_t id = 0x0123456789ABCDEFu ^ x.size();
  std::array<std::byte, read_request_frame_size> frame{};
  auto f = encode_read_request_frame(id, *decoded, frame);
  VPCI_FUZZ_CHECK(f.has_value() && *f == frame.size());
  frame_decoder decoder;
  const auto packet = deframe(decoder, frame);
  const auto framed = request_frame_payload(frame, id, read_request::wire_size);
  VPCI_FUZZ_CHECK(equal(framed.first(read_request::wire_size), x));
  auto back = decode_read_request(packet.subspan(std::size_t{le::load_u16(packet.data() + 2)} * 8));
  VPCI_FUZZ_CHECK(back.has_value() && *back == *decoded);
}

void check_encode(std::span<const std::byte> input) {
  input_reader in{input};
  const read_request m{block_id{in.u32()}, wslot{in.u8(), in.u8()}, in.u32()};
  const std::size_t room = in.u8() % 48;
  const std::uint64_t id = in.u64();
  const bool fields_ok = m.slot.device <= 31 && m.slot.function <= 7 && valid_block_length(m.bytes_requested);

  sentinel_buffer out{room};
  auto n = encode(m, out.span());
  VPCI_FUZZ_CHECK(n.has_value() == (fields_ok && room >= read_request::wire_size));
  if (!n) {
    VPCI_FUZZ_CHECK(out.untouched_from(0));
    VPCI_FUZZ_CHECK(one_of(n.error(), errc::invalid_argument, errc::invalid_length, errc::buffer_too_small));
  } else {
    VPCI_FUZZ_CHECK(*n == read_request::wire_size && out.untouched_from(*n));
    auto back = decode_read_request(out.view().first(*n));
    VPCI_FUZZ_CHECK(back.has_value() && *back == m);
  }

  sentinel_buffer frame{room};
  auto f = encode_read_request_frame(id, m, frame.span());
  VPCI_FUZZ_CHECK(f.has_value() == (fields_ok && room >= read_request_frame_size));
  if (!f) {
    VPCI_FUZZ_CHECK(frame.untouched_from(0));
  } else {
    VPCI_FUZZ_CHECK(*f == read_request_frame_size && frame.untouched_from(*f));
    const auto payload = request_frame_payload(frame.view().first(*f), id, read_request::wire_size);
    auto back = decode_read_request(payload);
    VPCI_FUZZ_CHECK(back.has_value() && *back == m);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  check_decode(as_bytes(data, size));
  check_encode(as_bytes(data, size));
  return 0;
}
