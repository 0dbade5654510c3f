// Fuzz target: mailbox discovery (config/find_mailbox.hpp, layout 2) on arbitrary config-space images.
//
// Input: byte 0 = mode (bit 0: name the DVSEC by the next 4 bytes, vendor ID then DVSEC ID, else use the
// function's own vendor ID, any vendor when it reads 0xFFFF as a VF's does, and DVSEC ID 0x5650); the rest
// is the image (an exact-size heap copy).
//
// Invariants:
// - find_mailbox returns the offset of the first DVSEC of the extended list, in list order, that carries
//   the vendor ID and DVSEC ID asked for, when its header decodes, it has revision 2, a length covering the
//   184-byte window and identity layout 2 or 0 (placed, no PF has initialised it yet), even when the list
//   breaks after it; for such a first DVSEC whose header does not decode: decode_dvsec's error; of
//   another revision or layout: revision_mismatch, too short: not_supported, its identity register past the
//   snapshot: out_of_range; with no such DVSEC: the walk's error for a malformed list, else not_found, and
//   not_found for a space without extended space (the header repeated at every 256-byte boundary from
//   0x100, where the walk says not_supported); the default names need the standard header (out_of_range
//   for a snapshot below 64 bytes);
// - a function that reads all ones (dwords 0x00, 0x08 and 0x100) is peer_gone, before anything else;
// - such a first DVSEC that another capability the walk reaches occupies bytes of (by placement's extent
//   rules: a known extent, else up to the next header) is malformed_message;
// - a returned window is dword aligned, in the extended space (0x100 or above), inside the 4096-byte space
//   and inside its DVSEC;
// - no read past the input (exact-size heap copy).
#include <cstddef>
#include <cstdint>
#include <vector>

#include <vpci/block/endian.hpp>
#include <vpci/config/capabilities.hpp>
#include <vpci/config/find_mailbox.hpp>
#include <vpci/config/placement.hpp>
#include <vpci/config/vsec.hpp>
#include <vpci/wire/mailbox.hpp>

#include "fuzz_support.hpp"

using namespace vpci;
using namespace vpci::config;
using namespace vpci::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  input_reader in{as_bytes(data, size)};
  const std::uint8_t mode = in.u8();
  const bool named = (mode & 1) != 0;
  const std::uint16_t asked_vendor = named ? in.u16() : 0;
  const std::uint16_t asked_id = named ? in.u16() : mailbox::default_dvsec_id;
  const exact_bytes image{in.rest()};
  const auto space = image.view();

  auto found = named ? find_mailbox(space, asked_vendor, asked_id) : find_mailbox(space);
  if (!named && space.size() < 64) {
    VPCI_FUZZ_CHECK(!found && found.error() == errc::out_of_range);
    return 0;
  }
  const auto all_ones = [&](std::size_t at) { return at + 4 <= space.size() && le::load_u32(space.data() + at) == 0xFFFF'FFFFu; };
  if (all_ones(0) && all_ones(8) && all_ones(extended_capabilities_start)) {
    VPCI_FUZZ_CHECK(!found && found.error() == errc::peer_gone);
    return 0;
  }
  const std::uint16_t vendor = named ? asked_vendor : le::load_u16(space.data());
  const bool any_vendor = !named && vendor == 0xFFFF;  // a VF's vendor ID register

  std::vector<extended_capability> list;
  const errc walk = for_each_extended_capability(space, [&](const extended_capability& c) { list.push_back(c); });
  const extended_capability* first = nullptr;
  dvsec_header first_header{};
  // The names decide (Linux's pci_find_dvsec_capability reads only them): the first DVSEC so named is the
  // one, and a header of it that does not decode is find_mailbox's answer; names past the image's end
  // end the search with out_of_range.
  for (const extended_capability& c : list) {
    if (c.id != extended_capability_id::designated_vendor_specific) continue;
    if (space.size() - c.offset < dvsec_header_size) {
      VPCI_FUZZ_CHECK(!found && found.error() == errc::out_of_range);
      return 0;
    }
    const std::uint16_t names_vendor = le::load_u16(space.data() + c.offset + 4);
    if ((!any_vendor && names_vendor != vendor) || le::load_u16(space.data() + c.offset + 8) != asked_id) continue;
    auto d = decode_dvsec(space, c.offset);
    if (!d) {
      VPCI_FUZZ_CHECK(!found && found.error() == d.error());
      return 0;
    }
    first = &c;
    first_header = *d;
    break;
  }

  if (first == nullptr) {
    // The header repeated from 0x100 on is no extended space (Linux: pci_ext_cfg_is_aliased): nothing found.
    const bool no_extended_space = walk == errc::not_supported && extended_space_aliases_header(space);
    VPCI_FUZZ_CHECK(!found && found.error() == (walk != no_error && !no_extended_space ? walk : errc::not_found));
    return 0;
  }
  if (first_header.revision != mailbox::dvsec_revision) {
    VPCI_FUZZ_CHECK(!found && found.error() == errc::revision_mismatch);
    return 0;
  }
  if (first_header.length < mailbox::window_size) {
    VPCI_FUZZ_CHECK(!found && found.error() == errc::not_supported);
    return 0;
  }
  const std::size_t identity = std::size_t{first->offset} + mailbox::reg::identity;
  if (identity + 4 > space.size()) {
    VPCI_FUZZ_CHECK(!found && found.error() == errc::out_of_range);
    return 0;
  }
  const std::uint32_t layout = le::load_u32(space.data() + identity) & 0xFFFF;
  if (layout != mailbox::layout_version && layout != 0) {
    VPCI_FUZZ_CHECK(!found && found.error() == errc::revision_mismatch);
    return 0;
  }
  // Another capability in the DVSEC's bytes: its extent known, or up to the next header the walk reached.
  const std::size_t limit = space.size() < extended_space_size ? space.size() : extended_space_size;
  for (const extended_capability& c : list) {
    if (c.offset == first->offset) continue;
    std::size_t extent = known_extent(space, c);
    if (extent == 0) {
      std::size_t next = limit;
      for (const extended_capability& other : list)
        if (other.offset > c.offset && other.offset < next) next = other.offset;
      extent = next > c.offset + 4 ? next - c.offset : 4;
      extent = (extent + 3) / 4 * 4;
    }
    if (c.offset < std::size_t{first->offset} + first_header.length && first->offset < c.offset + extent) {
      VPCI_FUZZ_CHECK(!found && found.error() == errc::malformed_message);
      return 0;
    }
  }
  VPCI_FUZZ_CHECK(found.has_value() && *found == first->offset);
  const std::size_t window = *found;
  VPCI_FUZZ_CHECK(window % 4 == 0 && window >= extended_capabilities_start);
  VPCI_FUZZ_CHECK(window + mailbox::window_size <= extended_space_size);
  VPCI_FUZZ_CHECK(mailbox::window_size <= first_header.length);
  return 0;
}
