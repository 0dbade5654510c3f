// Fuzz target: the capability walks of config/capabilities.hpp (standard list from the header's pointer,
// extended list from 0x100), decode_header, find_capability / find_extended_capability and the VSEC /
// DVSEC header decoders of config/vsec.hpp, on arbitrary config-space images (the whole input, an
// exact-size heap copy: truncated snapshots included).
//
// Invariants:
// - walks terminate, within the bounds of their lists (48 standard, 960 extended entries), and the
//   callback and the collecting forms (walk_*) agree, so a full list is never cut silently;
// - every entry is read from inside the image, at a position visited once: standard entries at 0x40 or
//   above, dword aligned (bits 1:0 masked), each the previous one's `next`; extended entries from 0x100 on,
//   dword aligned, neither all zeros nor all ones, each the previous one's `next` with bits 1:0 masked (as
//   Linux's PCI_EXT_CAP_NEXT); fields as the bytes say; no extended entry at all, and not_supported, when
//   every 256-byte boundary from 0x100 reads the header's first dword (Linux's pci_ext_cfg_is_aliased);
// - the walk's verdict is the one its contract gives for where it stopped: no_error at a zero pointer (or
//   no list at all), bad_capability_pointer (also at an entry reading ID 0xFF, which is never listed),
//   out_of_range or capability_loop as the next pointer says; not_supported, nothing listed, for a header
//   layout other than 0..2;
// - find_* return the first entry with the ID, else the walk's error, else not_found;
// - decode_header reads the fields at their offsets (the capability pointer at 0x14 for a CardBus bridge);
//   it refuses a snapshot shorter than 64 bytes;
// - decode_vsec / decode_dvsec, at every extended entry and at offsets near the image's end: refuse with
//   out_of_range exactly when the headers are not all inside the image or the length runs past 4096,
//   not_found exactly for another capability ID, malformed_message exactly for a length below the headers.
#include <cstddef>
#include <cstdint>
#include <vector>

#include <vpci/config/capabilities.hpp>
#include <vpci/config/header.hpp>
#include <vpci/config/vsec.hpp>

#include "fuzz_support.hpp"

using namespace vpci;
using namespace vpci::config;
using namespace vpci::fuzz;

namespace {

void check_header(std::span<const std::byte> space) {
  auto h = decode_header(space);
  VPCI_FUZZ_CHECK(h.has_value() == (space.size() >= standard_header_size));
  if (!h) {
    VPCI_FUZZ_CHECK(h.error() == errc::out_of_range);
    return;
  }
  const std::byte* p = space.data();
  VPCI_FUZZ_CHECK(h->vendor_id == le::load_u16(p) && h->device_id == le::load_u16(p + 2));
  VPCI_FUZZ_CHECK(h->command == le::load_u16(p + 4) && h->status == le::load_u16(p + 6));
  VPCI_FUZZ_CHECK(h->revision_id == le::load_u8(p + 8));
  VPCI_FUZZ_CHECK(h->class_code() == (le::load_u32(p + 8) >> 8));
  VPCI_FUZZ_CHECK(h->header_type == le::load_u8(p + 0x0E));
  const std::size_t pointer_at = (h->header_type & 0x7F) == 2 ? 0x14 : 0x34;
  VPCI_FUZZ_CHECK(h->capabilities_pointer == le::load_u8(p + pointer_at));
}

void check_standard(std::span<const std::byte> space) {
  std::vector<capability> seen;
  const errc e = for_each_capability(space, [&](const capability& c) { seen.push_back(c); });
  const auto walk = walk_capabilities(space);
  VPCI_FUZZ_CHECK(walk.error == e && walk.entries.size() == seen.size());
  for (std::size_t i = 0; i < seen.size(); ++i) VPCI_FUZZ_CHECK(walk.entries[i] == seen[i]);
  VPCI_FUZZ_CHECK(seen.size() <= max_standard_capabilities);

  auto h = decode_header(space);
  if (!h) {
    VPCI_FUZZ_CHECK(e == errc::out_of_range && seen.empty());
    return;
  }
  if (!h->has_capabilities_list()) {
    VPCI_FUZZ_CHECK(e == no_error && seen.empty());
    return;
  }
  if (!h->known_layout()) {  // no layout says where the pointer is
    VPCI_FUZZ_CHECK(e == errc::not_supported && seen.empty());
    return;
  }
  std::size_t pointer = h->capabilities_pointer & 0xFCu;
  std::vector<bool> visited(256, false);
  for (const capability& c : seen) {
    VPCI_FUZZ_CHECK(c.offset == pointer && pointer >= 0x40 && pointer + 2 <= space.size() && !visited[pointer]);
    visited[pointer] = true;
    VPCI_FUZZ_CHECK(c.id == le::load_u8(space.data() + pointer) && c.next == le::load_u8(space.data() + pointer + 1));
    VPCI_FUZZ_CHECK(c.id != absent_capability_id);
    pointer = c.next & 0xFCu;
  }
  // Where the walk stopped decides its verdict.
  errc expected = no_error;
  if (pointer == 0) expected = no_error;
  else if (pointer < 0x40) expected = errc::bad_capability_pointer;
  else if (pointer + 2 > space.size()) expected = errc::out_of_range;
  else if (visited[pointer]) expected = errc::capability_loop;
  else expected = errc::bad_capability_pointer;  // an entry reading ID 0xFF
  VPCI_FUZZ_CHECK(e == expected);
  if (expected == errc::bad_capability_pointer && pointer >= 0x40)
    VPCI_FUZZ_CHECK(le::load_u8(space.data() + pointer) == absent_capability_id);

  for (const std::uint8_t id : {std::uint8_t{0x01}, std::uint8_t{0x05}, std::uint8_t{0x10}, std::uint8_t{0x11},
                                seen.empty() ? std::uint8_t{0} : seen.back().id}) {
    auto found = find_capability(space, id);
    const capability* first = nullptr;
    for (const capability& c : seen)
      if (c.id == id) {
        first = &c;
        break;
      }
    if (first != nullptr) VPCI_FUZZ_CHECK(found.has_value() && *found == *first);
    else VPCI_FUZZ_CHECK(!found && found.error() == (e != no_error ? e : errc::not_found));
  }
}

bool empty_header(std::uint32_t raw) { return raw == 0 || raw == 0xFFFFFFFFu; }

std::vector<extended_capability> check_extended(std::span<const std::byte> space) {
  std::vector<extended_capability> seen;
  const errc e = for_each_extended_capability(space, [&](const extended_capability& c) { seen.push_back(c); });
  const auto walk = walk_extended_capabilities(space);
  VPCI_FUZZ_CHECK(walk.error == e && walk.entries.size() == seen.size());
  for (std::size_t i = 0; i < seen.size(); ++i) VPCI_FUZZ_CHECK(walk.entries[i] == seen[i]);
  VPCI_FUZZ_CHECK(seen.size() <= max_extended_capabilities);

  const bool no_list = space.size() < 0x104 || empty_header(le::load_u32(space.data() + 0x100));
  VPCI_FUZZ_CHECK(extended_list_empty(space) == no_list);
  if (no_list) {
    VPCI_FUZZ_CHECK(e == no_error && seen.empty());
    return seen;
  }
  bool aliased = true;
  for (std::size_t at = 0x100; at + 4 <= space.size(); at += 0x100)
    aliased = aliased && le::load_u32(space.data() + at) == le::load_u32(space.data());
  VPCI_FUZZ_CHECK(extended_space_aliases_header(space) == aliased);
  if (aliased) {
    VPCI_FUZZ_CHECK(e == errc::not_supported && seen.empty());
    return seen;
  }
  VPCI_FUZZ_CHECK(!seen.empty());
  std::size_t offset = 0x100;
  std::vector<bool> visited(4096, false);
  for (const extended_capability& c : seen) {
    VPCI_FUZZ_CHECK(c.offset == offset && offset % 4 == 0 && offset >= 0x100 && offset + 4 <= space.size());
    VPCI_FUZZ_CHECK(!visited[offset]);
    visited[offset] = true;
    const std::uint32_t raw = le::load_u32(space.data() + offset);
    VPCI_FUZZ_CHECK(!empty_header(raw));
    VPCI_FUZZ_CHECK(c == decode_extended_header(raw, static_cast<std::uint16_t>(offset)));
    VPCI_FUZZ_CHECK(c.id == (raw & 0xFFFF) && c.version == ((raw >> 16) & 0xF) && c.next == (raw >> 20));
    offset = c.next & 0xFFCu;
  }
  errc expected = no_error;
  if (offset == 0) expected = no_error;
  else if (offset < 0x100) expected = errc::bad_capability_pointer;
  else if (offset + 4 > space.size()) expected = errc::out_of_range;
  else if (visited[offset]) expected = errc::capability_loop;
  else expected = errc::bad_capability_pointer;  // the header there is empty: a broken link
  VPCI_FUZZ_CHECK(e == expected);
  if (expected == errc::bad_capability_pointer && offset >= 0x100)
    VPCI_FUZZ_CHECK(empty_header(le::load_u32(space.data() + offset)));

  for (const std::uint16_t id : {std::uint16_t{0x0001}, std::uint16_t{0x000B}, std::uint16_t{0x0010},
                                 std::uint16_t{0x0023}, seen.back().id}) {
    auto found = find_extended_capability(space, id);
    const extended_capability* first = nullptr;
    for (const extended_capability& c : seen)
      if (c.id == id) {
        first = &c;
        break;
      }
    if (first != nullptr) VPCI_FUZZ_CHECK(found.has_value() && *found == *first);
    else VPCI_FUZZ_CHECK(!found && found.error() == (e != no_error ? e : errc::not_found));
  }
  return seen;
}

void check_vendor_headers(std::span<const std::byte> space, std::size_t offset) {
  const bool vsec_readable = offset <= space.size() && space.size() - offset >= vsec_header_size;
  auto v = decode_vsec(space, offset);
  if (!vsec_readable) {
    VPCI_FUZZ_CHECK(!v && v.error() == errc::out_of_range && v.value() == vsec_header{});
  } else {
    const std::uint32_t ext = le::load_u32(space.data() + offset);
    const std::uint32_t word = le::load_u32(space.data() + offset + 4);
    const std::size_t length = word >> 20;
    if ((ext & 0xFFFF) != extended_capability_id::vendor_specific) {
      VPCI_FUZZ_CHECK(!v && v.error() == errc::not_found);
    } else if (length < vsec_header_size) {
      VPCI_FUZZ_CHECK(!v && v.error() == errc::malformed_message);
    } else if (offset + length > extended_space_size) {
      VPCI_FUZZ_CHECK(!v && v.error() == errc::out_of_range);
    } else {
      VPCI_FUZZ_CHECK(v.has_value() && v->offset == offset && v->vsec_id == (word & 0xFFFF) &&
                      v->vsec_revision == ((word >> 16) & 0xF) && v->length == length);
      VPCI_FUZZ_CHECK(v->version == ((ext >> 16) & 0xF) && v->next == (ext >> 20));
    }
  }

  const bool dvsec_readable = offset <= space.size() && space.size() - offset >= dvsec_header_size;
  auto d = decode_dvsec(space, offset);
  if (!dvsec_readable) {
    VPCI_FUZZ_CHECK(!d && d.error() == errc::out_of_range && d.value() == dvsec_header{});
  } else {
    const std::uint32_t ext = le::load_u32(space.data() + offset);
    const std::uint32_t word = le::load_u32(space.data() + offset + 4);
    const std::size_t length = word >> 20;
    if ((ext & 0xFFFF) != extended_capability_id::designated_vendor_specific) {
      VPCI_FUZZ_CHECK(!d && d.error() == errc::not_found);
    } else if (length < dvsec_header_size) {
      VPCI_FUZZ_CHECK(!d && d.error() == errc::malformed_message);
    } else if (offset + length > extended_space_size) {
      VPCI_FUZZ_CHECK(!d && d.error() == errc::out_of_range);
    } else {
      VPCI_FUZZ_CHECK(d.has_value() && d->vendor_id == (word & 0xFFFF) && d->revision == ((word >> 16) & 0xF) &&
                      d->length == length && d->dvsec_id == le::load_u16(space.data() + offset + 8));
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const exact_bytes image{as_bytes(data, size)};
  const auto space = image.view();
  check_header(space);
  check_standard(space);
  const auto extended = check_extended(space);
  for (const extended_capability& c : extended) check_vendor_headers(space, c.offset);
  for (const std::size_t back : {std::size_t{0}, std::size_t{1}, std::size_t{8}, std::size_t{9}, std::size_t{10},
                                 std::size_t{11}}) {
    if (back <= size) check_vendor_headers(space, size - back);
  }
  check_vendor_headers(space, size + 1);
  check_vendor_headers(space, ~std::size_t{0});
  return 0;
}
