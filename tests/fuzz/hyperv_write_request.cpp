// Fuzz target: hyperv::decode_write_request (struct pci_write_block, the payload after the descriptor)
// and its encoders, the payload one (with and without Linux's reserved tail) and the VF's request frame.
//
// Invariants:
// - the decoder accepts exactly what its contract allows: the type, a 16-byte header, no reserved wslot
//   bit, byte_count 1..128, at least byte_count bytes of data and at most max_payload_size(byte_count)
//   bytes in all; otherwise one of the reasons that apply, and no value; no read past the input;
// - the data it returns is the byte_count bytes after the header, a view inside the input;
// - encode(decode(x)) == x up to the data's end. Not after it: the bytes past byte_count (Linux's 4
//   reserved bytes, VMBus padding) are not fields, and their content is not checked (pci-hyperv.c never
//   reads them), so the encoder writes zeros there instead (checked: 4 zeros with the Linux tail);
// - the request frame of a decoded write carries header + data behind an in-band descriptor, padded
//   with zeros, and decodes back to the same message;
// - the encoders, on fields and data from the input: refuse exactly invalid fields, 0 or more than 128
//   bytes of data, or too small a buffer, writing nothing then; on success write exactly what they report.
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

namespace {

void check_same(const write_request& a, const write_request& b) {
  VPCI_FUZZ_CHECK(a.block == b.block && a.slot == b.slot && equal(a.data, b.data));
}

void check_decode(std::span<const std::byte> input) {
  const exact_bytes payload{input};
  const auto x = payload.view();
  const std::size_t size = x.size();
  auto decoded = decode_write_request(x);

  const bool type_ok = size >= 4 && le::load_u32(x.data()) == static_cast<std::uint32_t>(message_type::write_block);
  const bool header_ok = size >= write_request::header_size;
  const bool slot_ok = size < 12 || (le::load_u32(x.data() + 8) & ~0xFFu) == 0;
  const std::uint32_t count = size >= 16 ? le::load_u32(x.data() + 12) : 0;
  const bool count_ok = size < 16 || valid_block_length(count);
  // The data byte_count names is looked for before byte_count's range (a message must hold what it says).
  const bool data_present = header_ok && size - write_request::header_size >= count;
  const bool no_excess = !header_ok || !count_ok || size <= write_request::max_payload_size(count);
  VPCI_FUZZ_CHECK(decoded.has_value() == (type_ok && header_ok && slot_ok && count_ok && data_present && no_excess));
  if (!decoded) {
    VPCI_FUZZ_CHECK(decoded->data.empty() && decoded->block == block_id{} && decoded->slot == wslot{});
    const errc e = decoded.error();
    VPCI_FUZZ_CHECK((e == errc::truncated_message && (!header_ok || !data_present)) ||
                    (e == errc::unknown_message_type && !type_ok) ||
                    (e == errc::malformed_message && (!slot_ok || !no_excess)) ||
                    (e == errc::invalid_length && data_present && !count_ok));
    return;
  }

  VPCI_FUZZ_CHECK(within(decoded->data, x));
  VPCI_FUZZ_CHECK(decoded->data.size() == count && decoded->data.data() == x.data() + write_request::header_size);
  VPCI_FUZZ_CHECK(write_request::max_payload_size(count) - (write_request::header_size + count) <=
                  write_request::linux_reserved_tail + 7);

  const std::size_t exact = write_request::header_size + count;
  std::array<std::byte, write_request::header_size + max_block_size + write_request::linux_reserved_tail> again{};
  auto n = encode(*decoded, again);
  VPCI_FUZZ_CHECK(n.has_value() && *n == exact && equal(std::span{again}.first(exact), x.first(exact)));
  again.fill(std::byte{0xEE});
  n = encode(*decoded, again, true);
  VPCI_FUZZ_CHECK(n.has_value() && *n == exact + write_request::linux_reserved_tail);
  VPCI_FUZZ_CHECK(equal(std::span{again}.first(exact), x.first(exact)));
  for (std::size_t i = exact; i < *n; ++i) VPCI_FUZZ_CHECK(again[i] == std::byte{0});

  for (const bool tail : {false, true}) {
    std::array<std::byte, max_frame_size> frame{};
    const std::uint64_t id = 0xA5A5A5A5A5A5A5A5u + count;
    auto f = encode_write_request_frame(id, *decoded, frame, tail);
    VPCI_FUZZ_CHECK(f.has_value() && *f == write_request_frame_size(count, tail));
    const auto whole = std::span<const std::byte>{frame}.first(*f);
    frame_decoder decoder;
    (void)deframe(decoder, whole);
    const auto framed = request_frame_payload(whole, id, exact + (tail ? write_request::linux_reserved_tail : 0));
    auto back = decode_write_request(framed);
    VPCI_FUZZ_CHECK(back.has_value());
    check_same(*back, *decoded);
  }
}

void check_encode(std::span<const std::byte> input) {
  input_reader in{input};
  const std::uint32_t block = in.u32();
  const wslot slot{in.u8(), in.u8()};
  const std::size_t room = in.u16() % (max_frame_size + 16);
  const std::size_t length = in.u8();  // 0..255: invalid lengths included
  const bool tail = (in.u8() & 1) != 0;
  const std::uint64_t id = in.u64();
  const exact_bytes data_copy{in.take(length)};
  const write_request m{block_id{block}, slot, data_copy.view()};
  const bool fields_ok = slot.device <= 31 && slot.function <= 7 && valid_block_length(m.data.size());
  const std::size_t size = write_request::header_size + m.data.size() + (tail ? write_request::linux_reserved_tail : 0);

  sentinel_buffer out{room};
  auto n = encode(m, out.span(), tail);
  VPCI_FUZZ_CHECK(n.has_value() == (fields_ok && room >= size));
  if (!n) {
    VPCI_FUZZ_CHECK(out.untouched_from(0));
    VPCI_FUZZ_CHECK(one_of(n.error(), errc::invalid_argument, errc::invalid_length, errc::buffer_too_small));
  } else {
    VPCI_FUZZ_CHECK(*n == size && out.untouched_from(size));
    auto back = decode_write_request(out.view().first(*n));
    VPCI_FUZZ_CHECK(back.has_value());
    check_same(*back, m);
  }

  sentinel_buffer frame{room};
  auto f = encode_write_request_frame(id, m, frame.span(), tail);
  const bool frame_fits = valid_block_length(m.data.size()) && room >= write_request_frame_size(m.data.size(), tail);
  VPCI_FUZZ_CHECK(f.has_value() == (fields_ok && frame_fits));
  if (!valid_block_length(m.data.size())) VPCI_FUZZ_CHECK(f.error() == errc::invalid_length);
  if (!f) {
    VPCI_FUZZ_CHECK(frame.untouched_from(0));
  } else {
    VPCI_FUZZ_CHECK(frame.untouched_from(*f));
    auto back = decode_write_request(request_frame_payload(frame.view().first(*f), id, size));
    VPCI_FUZZ_CHECK(back.has_value());
    check_same(*back, m);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  check_decode(as_bytes(data, size));
  check_encode(as_bytes(data, size));
  return 0;
}
