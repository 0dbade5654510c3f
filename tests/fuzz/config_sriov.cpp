// Fuzz target: SR-IOV decode (config/sriov.hpp) on arbitrary config-space images: find_sriov,
// decode_sriov at every dword offset and at offsets past the image's end, validate(), and the routing
// IDs of VFs (vf_routing_id) for several PF routing IDs and VF numbers.
//
// Invariants:
// - find_sriov is decode_sriov at the first SR-IOV capability of the extended walk, else the walk's error
//   or not_found;
// - decode_sriov refuses with out_of_range exactly when the 64 bytes are not all inside the image, with
//   not_found exactly when the header there is not SR-IOV, and otherwise reads every register at its
//   offset (no read past the input: exact-size heap copy);
// - validate() is malformed_message exactly when NumVFs > TotalVFs, the stride is 0 with several VFs, or the
//   First VF Offset is 0 with any VF;
// - vf_routing_id(pf, n) is PF + First VF Offset + n * Stride when that is below 0x10000 and n < NumVFs
//   (not_found for n >= NumVFs, malformed_message for a zero offset or a zero stride past VF 0,
//   out_of_range past 0xFFFF);
//   two VFs never get the same routing ID.
#include <cstddef>
#include <cstdint>
#include <set>

#include <vpci/config/capabilities.hpp>
#include <vpci/config/sriov.hpp>

#include "fuzz_support.hpp"

using namespace vpci;
using namespace vpci::config;
using namespace vpci::fuzz;

namespace {

void check_decode_at(std::span<const std::byte> space, std::size_t offset) {
  auto s = decode_sriov(space, offset);
  if (offset > space.size() || space.size() - offset < sriov_capability_size) {
    VPCI_FUZZ_CHECK(!s && s.error() == errc::out_of_range);
    return;
  }
  const std::byte* p = space.data() + offset;
  if ((le::load_u32(p) & 0xFFFF) != extended_capability_id::sriov) {
    VPCI_FUZZ_CHECK(!s && s.error() == errc::not_found);
    return;
  }
  VPCI_FUZZ_CHECK(s.has_value());
  VPCI_FUZZ_CHECK(s->offset == static_cast<std::uint16_t>(offset) && s->version == ((le::load_u32(p) >> 16) & 0xF));
  VPCI_FUZZ_CHECK(s->capabilities == le::load_u32(p + 0x04) && s->control == le::load_u16(p + 0x08) &&
                  s->status == le::load_u16(p + 0x0A));
  VPCI_FUZZ_CHECK(s->initial_vfs == le::load_u16(p + 0x0C) && s->total_vfs == le::load_u16(p + 0x0E) &&
                  s->num_vfs == le::load_u16(p + 0x10) && s->function_dependency_link == le::load_u8(p + 0x12));
  VPCI_FUZZ_CHECK(s->first_vf_offset == le::load_u16(p + 0x14) && s->vf_stride == le::load_u16(p + 0x16) &&
                  s->vf_device_id == le::load_u16(p + 0x1A));
  VPCI_FUZZ_CHECK(s->supported_page_sizes == le::load_u32(p + 0x1C) && s->system_page_size == le::load_u32(p + 0x20));
  for (std::size_t i = 0; i < 6; ++i) VPCI_FUZZ_CHECK(s->vf_bars[i] == le::load_u32(p + 0x24 + 4 * i));
  VPCI_FUZZ_CHECK(s->vf_migration_state_array_offset == le::load_u32(p + 0x3C));
}

void check_routing(const sriov_capability& s, std::uint16_t extra_pf, std::uint16_t extra_n) {
  const bool bad = s.num_vfs > s.total_vfs || (s.vf_stride == 0 && s.num_vfs > 1) || (s.first_vf_offset == 0 && s.num_vfs > 0);
  VPCI_FUZZ_CHECK((s.validate() == errc::malformed_message) == bad);
  VPCI_FUZZ_CHECK(bad || s.validate() == no_error);

  for (const std::uint16_t pf : {std::uint16_t{0}, std::uint16_t{0x0100}, std::uint16_t{0xFF00}, std::uint16_t{0xFFFF},
                                 extra_pf}) {
    const std::uint16_t last = s.num_vfs == 0 ? 0 : static_cast<std::uint16_t>(s.num_vfs - 1);
    for (const std::uint16_t n : {std::uint16_t{0}, std::uint16_t{1}, last, s.num_vfs, std::uint16_t{0xFFFF}, extra_n}) {
      auto rid = vf_routing_id(routing_id{pf}, s, n);
      const std::uint32_t sum = std::uint32_t{pf} + s.first_vf_offset + std::uint32_t{n} * s.vf_stride;
      if (n >= s.num_vfs) VPCI_FUZZ_CHECK(!rid && rid.error() == errc::not_found);
      else if (s.first_vf_offset == 0 || (n > 0 && s.vf_stride == 0))
        VPCI_FUZZ_CHECK(!rid && rid.error() == errc::malformed_message);
      else if (sum > 0xFFFF) VPCI_FUZZ_CHECK(!rid && rid.error() == errc::out_of_range);
      else VPCI_FUZZ_CHECK(rid.has_value() && rid->value == sum);
    }
    // The first VFs: no two share a routing ID.
    std::set<std::uint16_t> ids;
    std::size_t valid = 0;
    for (std::uint16_t n = 0; n < s.num_vfs && n < 64; ++n) {
      auto rid = vf_routing_id(routing_id{pf}, s, n);
      if (!rid) continue;
      ++valid;
      ids.insert(rid->value);
    }
    VPCI_FUZZ_CHECK(ids.size() == valid);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const exact_bytes image{as_bytes(data, size)};
  const auto space = image.view();

  auto found = find_sriov(space);
  auto first = find_extended_capability(space, extended_capability_id::sriov);
  if (first) {
    auto direct = decode_sriov(space, first->offset);
    VPCI_FUZZ_CHECK(found.has_value() == direct.has_value());
    if (!direct) VPCI_FUZZ_CHECK(found.error() == direct.error() && direct.error() == errc::out_of_range);
    else VPCI_FUZZ_CHECK(found->offset == direct->offset && found->num_vfs == direct->num_vfs);
  } else {
    VPCI_FUZZ_CHECK(!found && found.error() == first.error());
  }

  for (std::size_t offset = 0; offset <= size; offset += 4) check_decode_at(space, offset);
  for (const std::size_t back : {std::size_t{63}, std::size_t{64}, std::size_t{65}})
    if (back <= size) check_decode_at(space, size - back);
  check_decode_at(space, size + 1);
  check_decode_at(space, ~std::size_t{0});

  const std::uint16_t extra_pf = size >= 2 ? le::load_u16(space.data()) : 0;
  const std::uint16_t extra_n = size >= 4 ? le::load_u16(space.data() + 2) : 0;
  if (found) check_routing(*found, extra_pf, extra_n);
  // Any 64 bytes as an SR-IOV capability, to reach the routing arithmetic with arbitrary registers.
  if (size >= sriov_capability_size) {
    std::array<std::byte, sriov_capability_size> forced{};
    for (std::size_t i = 0; i < forced.size(); ++i) forced[i] = space[i];
    le::store_u16(forced.data(), extended_capability_id::sriov);
    const exact_bytes exact{forced};
    auto s = decode_sriov(exact.view(), 0);
    VPCI_FUZZ_CHECK(s.has_value());
    check_routing(*s, extra_pf, extra_n);
  }
  return 0;
}
