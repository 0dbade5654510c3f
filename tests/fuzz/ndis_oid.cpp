// Fuzz target: the PF side's NDIS OID structures of wire/windows.hpp, decoded from an InformationBuffer
// (the whole input): NDIS_SRIOV_READ/WRITE_VF_CONFIG_BLOCK_PARAMETERS with data_region(), and
// NDIS_SRIOV_VF_INVALIDATE_CONFIG_BLOCK_INFO; their encoders on fields taken from the input.
//
// Invariants:
// - each decoder accepts exactly what its contract allows (a revision-1-or-later header of the default
//   type whose Size covers revision 1 and lies inside the buffer; VFId not NDIS_PF_FUNCTION_ID; Length
//   1..128; BufferOffset at or after the structure; the data range inside the buffer) and refuses
//   anything else with one of the reasons that apply, with no value; no read past the input;
// - the data region of a decoded request lies inside the buffer, after the structure (never overlapping
//   it), and is exactly BufferOffset..+Length; for parameters that do not fit, data_region is empty;
// - encode(decode(x)) == x over bytes 0..BufferOffset, except what revision 1 does not carry or the
//   encoder normalises: the header's Revision and Size (the encoder writes revision 1, Size 20 / 16), the
//   alignment bytes (zero), and any bytes between the revision-1 structure and BufferOffset (zero: a later
//   revision's fields, or a gap). The data region is the caller's: the encoder never writes it;
// - the encoders: refuse exactly an invalid Length, VFId NDIS_PF_FUNCTION_ID or a BufferOffset inside the
//   structure, or data that does not fit, writing nothing then; on success write exactly bytes
//   0..BufferOffset and return required_buffer_size(); the result decodes back.
#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <vpci/wire/windows.hpp>

#include "fuzz_support.hpp"

using namespace vpci;
using namespace vpci::fuzz;
using namespace vpci::windows;
using namespace vpci::windows::ndis;

namespace {

struct header_facts {
  bool present = false;  // the buffer holds the revision-1 structure
  bool valid = false;    // default type, revision >= 1, Size >= revision-1 size and <= buffer
  std::uint16_t size = 0;
};

header_facts read_header(std::span<const std::byte> x, std::size_t size_revision_1) {
  header_facts h;
  h.present = x.size() >= size_revision_1;
  if (!h.present) return h;
  h.size = le::load_u16(x.data() + 2);
  h.valid = le::load_u8(x.data()) == object_type_default && le::load_u8(x.data() + 1) >= 1 &&
            h.size >= size_revision_1 && h.size <= x.size();
  return h;
}

void check_parameters(std::span<const std::byte> x, std::span<std::byte> writable) {
  constexpr std::size_t base = vf_config_block_parameters::size_revision_1;
  auto p = decode_vf_config_block_parameters(x);
  const header_facts h = read_header(x, base);
  const bool vf_ok = h.present && le::load_u16(x.data() + 4) != ndis_pf_function_id;
  const std::uint32_t length = h.present ? le::load_u32(x.data() + 12) : 0;
  const std::uint32_t offset = h.present ? le::load_u32(x.data() + 16) : 0;
  const bool length_ok = h.present && valid_block_length(length);
  const bool offset_ok = h.present && offset >= h.size;
  const bool fits = h.present && std::uint64_t{offset} + length <= x.size();
  VPCI_FUZZ_CHECK(p.has_value() == (h.valid && vf_ok && length_ok && offset_ok && fits));
  VPCI_FUZZ_CHECK(refused_cleanly(p));
  if (!p) {
    const errc e = p.error();
    VPCI_FUZZ_CHECK((e == errc::buffer_too_small && (!h.present || !fits)) ||
                    (e == errc::malformed_message && (!h.valid || !vf_ok || !offset_ok)) ||
                    (e == errc::invalid_length && !length_ok));
    return;
  }
  VPCI_FUZZ_CHECK(p->vf_id == le::load_u16(x.data() + 4) && p->block.value() == le::load_u32(x.data() + 8));
  VPCI_FUZZ_CHECK(p->length == length && p->buffer_offset == offset);
  VPCI_FUZZ_CHECK(required_buffer_size(*p) == std::uint64_t{offset} + length);

  const auto region = data_region(x, *p);
  VPCI_FUZZ_CHECK(within(region, x) && region.data() == x.data() + offset && region.size() == length);
  VPCI_FUZZ_CHECK(offset >= base && offset >= h.size);  // never overlaps the structure it follows
  const auto mutable_region = data_region(writable, *p);
  VPCI_FUZZ_CHECK(mutable_region.data() == writable.data() + offset && mutable_region.size() == length);
  // A buffer one byte short of the data has no data region.
  VPCI_FUZZ_CHECK(data_region(x.first(offset + length - 1), *p).empty());

  std::vector<std::byte> expected(x.begin(), x.begin() + offset);
  expected[1] = std::byte{vf_config_block_parameters::revision_1};
  le::store_u16(expected.data() + 2, static_cast<std::uint16_t>(base));
  le::store_u16(expected.data() + 6, 0);
  for (std::size_t i = base; i < offset; ++i) expected[i] = std::byte{0};
  sentinel_buffer out{x.size()};
  auto n = encode(*p, out.span());
  VPCI_FUZZ_CHECK(n.has_value() && *n == required_buffer_size(*p));
  VPCI_FUZZ_CHECK(equal(out.view().first(offset), expected) && out.untouched_from(offset));
}

void check_invalidate_info(std::span<const std::byte> x) {
  constexpr std::size_t base = vf_invalidate_config_block_info::size_revision_1;
  auto info = decode_vf_invalidate_config_block_info(x);
  // Any header is taken (NDIS leaves it zero or unset): only the length decides.
  VPCI_FUZZ_CHECK(info.has_value() == (x.size() >= base));
  VPCI_FUZZ_CHECK(refused_cleanly(info));
  if (!info) {
    VPCI_FUZZ_CHECK(info.error() == errc::buffer_too_small);
    return;
  }
  VPCI_FUZZ_CHECK(info->mask.bits() == le::load_u64(x.data() + 8));
  std::vector<std::byte> expected(x.begin(), x.begin() + base);
  expected[0] = std::byte{object_type_default};
  expected[1] = std::byte{vf_invalidate_config_block_info::revision_1};
  le::store_u16(expected.data() + 2, static_cast<std::uint16_t>(base));
  le::store_u32(expected.data() + 4, 0);
  std::array<std::byte, base> out{};
  auto n = encode(*info, out);
  VPCI_FUZZ_CHECK(n.has_value() && *n == base && equal(out, expected));
}

void check_encoders(std::span<const std::byte> input) {
  input_reader in{input};
  const std::size_t room = in.u16() % 512;
  const vf_config_block_parameters p{in.u16(), block_id{in.u32()}, in.u16() % 200u, in.u16() % 600u};
  const bool fields_ok = valid_block_length(p.length) && p.vf_id != ndis_pf_function_id &&
                         p.buffer_offset >= vf_config_block_parameters::size_revision_1;
  const bool fits = std::uint64_t{p.buffer_offset} + p.length <= room;

  sentinel_buffer out{room};
  auto n = encode(p, out.span());
  VPCI_FUZZ_CHECK(n.has_value() == (fields_ok && fits));
  if (!n) {
    VPCI_FUZZ_CHECK(out.untouched_from(0));
    VPCI_FUZZ_CHECK(one_of(n.error(), errc::invalid_length, errc::invalid_argument, errc::buffer_too_small));
    if (!valid_block_length(p.length)) VPCI_FUZZ_CHECK(n.error() == errc::invalid_length);
  } else {
    VPCI_FUZZ_CHECK(*n == required_buffer_size(p) && out.untouched_from(p.buffer_offset));
    auto back = decode_vf_config_block_parameters(out.view().first(*n));
    VPCI_FUZZ_CHECK(back.has_value() && *back == p);
  }

  const vf_invalidate_config_block_info info{block_mask{in.u64()}};
  const std::size_t info_room = in.u8() % 32;
  sentinel_buffer info_out{info_room};
  auto m = encode(info, info_out.span());
  VPCI_FUZZ_CHECK(m.has_value() == (info_room >= vf_invalidate_config_block_info::size_revision_1));
  if (!m) {
    VPCI_FUZZ_CHECK(m.error() == errc::buffer_too_small && info_out.untouched_from(0));
  } else {
    VPCI_FUZZ_CHECK(*m == vf_invalidate_config_block_info::size_revision_1 && info_out.untouched_from(*m));
    auto back = decode_vf_invalidate_config_block_info(info_out.view().first(*m));
    VPCI_FUZZ_CHECK(back.has_value() && *back == info);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  exact_bytes buffer{as_bytes(data, size)};
  check_parameters(buffer.view(), buffer.span());
  check_invalidate_info(buffer.view());
  check_encoders(buffer.view());
  return 0;
}
