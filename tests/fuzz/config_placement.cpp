// Fuzz target: free-space placement (config/placement.hpp): find_free_space, place_vsec / place_dvsec and
// free_vsec / free_dvsec on arbitrary config-space images, with a request taken from the input.
//
// Input: byte 0 = mode (bit 0: take the length raw, else a dword-aligned 0..0xFFC; bit 1: take the
// revision raw, else 0..15; bit 2: a DVSEC, whose vendor ID is the ID given and whose DVSEC ID is that ID
// with its bytes swapped, else a VSEC), ID (2 bytes), revision (1), length (2); the rest is the image (an
// exact-size heap copy). What is said below of VSECs holds for DVSECs alike, with their 12 header bytes.
//
// Invariants:
// - find_free_space fails exactly when the extended walk fails, with its error; its ranges are ascending,
//   dword aligned, non-empty, separated (maximal runs), inside [0x104, min(size, 4096)), read as zero, hold
//   no capability header and overlap no capability's extent (the extent rules of placement.hpp's comment);
// - place_vsec refuses an invalid request with invalid_argument, a malformed list with the walk's error,
//   and no room with insufficient_resources (then no free range holds the VSEC), the image unchanged in
//   every case;
// - a placed VSEC lies in the lowest free range that holds it (or at 0x100 on an empty list), inside the
//   image and the 4096-byte space, overlapping no capability; only its 8 header bytes and one link dword
//   change; the list becomes the old one plus the VSEC at its end (behind a Null Capability head at 0x100
//   for an empty list); its headers decode as requested; the free space afterwards excludes it; a second
//   placement never overlaps the first;
// - free_vsec of a just-placed VSEC restores the image byte for byte;
// - free_vsec of each VSEC of the original list: refuses with the documented errors and the image
//   unchanged, or unlinks it (the list is the old one without it, a Null Capability head taking its place
//   at 0x100 when others follow; Null Capabilities of version 0 it leaves at the end of the list go too,
//   the list stays walkable) and zeroes its bytes, changing nothing else but the relinked and the unlinked
//   headers.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <vpci/config/capabilities.hpp>
#include <vpci/config/placement.hpp>
#include <vpci/config/vsec.hpp>

#include "fuzz_support.hpp"

using namespace vpci;
using namespace vpci::config;
using namespace vpci::fuzz;

namespace {

using image = std::vector<std::byte>;

struct walked {
  std::vector<extended_capability> list;
  errc error{no_error};
};

walked walk(std::span<const std::byte> space) {
  walked w;
  w.error = for_each_extended_capability(space, [&](const extended_capability& c) { w.list.push_back(c); });
  return w;
}

std::size_t limit_of(std::span<const std::byte> space) {
  return std::min(space.size(), extended_space_size) & ~std::size_t{3};
}

// The bytes a capability occupies by placement.hpp's rules: its known extent, else up to the next header
// above it (or the end of the space), at least its header dword.
std::size_t extent_end(std::span<const std::byte> space, const extended_capability& c,
                       const std::vector<extended_capability>& list) {
  const std::size_t known = known_extent(space, c);
  if (known != 0) return c.offset + known;
  std::size_t end = std::max(std::min(space.size(), extended_space_size), std::size_t{c.offset} + 4);
  for (const extended_capability& other : list)
    if (other.offset > c.offset && other.offset < end) end = std::max(std::size_t{other.offset}, std::size_t{c.offset} + 4);
  return end;
}

bool overlaps(std::size_t a, std::size_t a_end, std::size_t b, std::size_t b_end) { return a < b_end && b < a_end; }

void check_free_space(std::span<const std::byte> space, const walked& w, const result<free_space_map>& map) {
  VPCI_FUZZ_CHECK(map.has_value() == (w.error == no_error));
  if (!map) {
    VPCI_FUZZ_CHECK(map.error() == w.error && map->empty());
    return;
  }
  const std::size_t limit = limit_of(space);
  std::size_t previous_end = 0;
  for (const free_range& r : *map) {
    VPCI_FUZZ_CHECK(r.start % 4 == 0 && r.end % 4 == 0 && r.start < r.end);
    VPCI_FUZZ_CHECK(r.start >= extended_capabilities_start + 4 && r.end <= limit);
    VPCI_FUZZ_CHECK(r.start > previous_end);  // ascending and separated
    previous_end = r.end;
    for (std::size_t at = r.start; at < r.end; at += 4) VPCI_FUZZ_CHECK(le::load_u32(space.data() + at) == 0);
    for (const extended_capability& c : w.list) {
      VPCI_FUZZ_CHECK(!(c.offset >= r.start && c.offset < r.end));
      VPCI_FUZZ_CHECK(!overlaps(r.start, r.end, c.offset, extent_end(space, c, w.list)));
    }
  }
  VPCI_FUZZ_CHECK(map->size() <= max_free_ranges);
  if (space.size() <= 256) VPCI_FUZZ_CHECK(map->empty());
}

// What is placed: a VSEC or a DVSEC, its request and the functions that place, decode and free it.
struct placement_kind {
  bool dvsec{false};
  vsec_request request{};
  [[nodiscard]] std::uint16_t id() const { return dvsec ? extended_capability_id::designated_vendor_specific : extended_capability_id::vendor_specific; }
  [[nodiscard]] std::uint8_t version() const { return dvsec ? placed_dvsec_version : placed_vsec_version; }
  [[nodiscard]] std::size_t header_size() const { return dvsec ? 12 : 8; }
  [[nodiscard]] std::uint16_t dvsec_id() const {
    return static_cast<std::uint16_t>(request.vsec_id << 8 | request.vsec_id >> 8);
  }
  [[nodiscard]] result<std::uint16_t> place(std::span<std::byte> space) const {
    if (dvsec) return place_dvsec(space, {request.vsec_id, dvsec_id(), request.vsec_revision, request.length});
    return place_vsec(space, request);
  }
  [[nodiscard]] errc free(std::span<std::byte> space, std::uint16_t offset) const {
    return dvsec ? free_dvsec(space, offset) : free_vsec(space, offset);
  }
  // The length of the capability at `offset` when it decodes as this kind.
  [[nodiscard]] result<std::uint16_t> length_at(std::span<const std::byte> space, std::size_t offset) const {
    if (dvsec) {
      auto d = decode_dvsec(space, offset);
      if (!d) return d.error();
      return d->length;
    }
    auto v = decode_vsec(space, offset);
    if (!v) return v.error();
    return v->length;
  }
  [[nodiscard]] bool decodes_as_requested(std::span<const std::byte> space, std::size_t offset) const {
    if (dvsec) {
      auto d = decode_dvsec(space, offset);
      return d.has_value() && d->vendor_id == request.vsec_id && d->dvsec_id == dvsec_id() &&
             d->revision == request.vsec_revision && d->length == request.length;
    }
    auto v = decode_vsec(space, offset);
    return v.has_value() && v->vsec_id == request.vsec_id && v->vsec_revision == request.vsec_revision &&
           v->length == request.length;
  }
};

void check_place(const image& original, const walked& w, const result<free_space_map>& map, const placement_kind& kind) {
  const vsec_request& request = kind.request;
  image space = original;
  auto placed = kind.place(space);
  const bool request_ok = request.length >= kind.header_size() && request.length <= 0xFFC && request.length % 4 == 0 &&
                          request.vsec_revision <= 0xF;
  if (!placed) VPCI_FUZZ_CHECK(space == original);
  if (!request_ok) {
    VPCI_FUZZ_CHECK(!placed && placed.error() == errc::invalid_argument);
    return;
  }
  if (w.error != no_error) {
    VPCI_FUZZ_CHECK(!placed && placed.error() == w.error);
    return;
  }
  const bool list_empty = extended_list_empty(original);
  const bool head_fits = list_empty && !map->empty() && (*map)[0].start == 0x104 && (*map)[0].end >= 0x100u + request.length;
  const free_range* lowest = nullptr;
  for (const free_range& r : *map)
    if (r.size() >= request.length) {
      lowest = &r;
      break;
    }
  // The space the rule would leave: refused (not_supported) when it would repeat its header from 0x100 on
  // with a list there, which no walk reads (extended_space_aliases_header).
  if (head_fits || lowest != nullptr) {
    image model = original;
    const std::size_t at = head_fits ? 0x100 : lowest->start;
    le::store_u32(model.data() + at, encode_extended_header(kind.id(), kind.version(), 0));
    if (kind.dvsec) {
      le::store_u32(model.data() + at + 4, encode_dvsec_header1(request.vsec_id, request.vsec_revision, request.length));
      le::store_u32(model.data() + at + 8, encode_dvsec_header2(kind.dvsec_id()));
    } else {
      le::store_u32(model.data() + at + 4, encode_vsec_word(request.vsec_id, request.vsec_revision, request.length));
    }
    const auto link = static_cast<std::uint16_t>(at);
    if (!list_empty)
      le::store_u32(model.data() + w.list.back().offset, relinked_header(w.list.back(), link));
    else if (at != 0x100)
      le::store_u32(model.data() + 0x100, encode_extended_header(extended_capability_id::null_capability, 0, link));
    if (!extended_list_empty(model) && extended_space_aliases_header(model)) {
      VPCI_FUZZ_CHECK(!placed && placed.error() == errc::not_supported);
      return;
    }
  }
  if (!placed) {
    VPCI_FUZZ_CHECK(placed.error() == errc::insufficient_resources);
    VPCI_FUZZ_CHECK((lowest == nullptr && !head_fits) ||
                    (list_empty && (original.size() < 0x104 || le::load_u32(original.data() + 0x100) != 0)));
    return;
  }

  const std::size_t offset = *placed;
  const std::size_t end = offset + request.length;
  VPCI_FUZZ_CHECK(offset % 4 == 0 && offset >= 0x100 && end <= limit_of(original));
  if (head_fits) VPCI_FUZZ_CHECK(offset == 0x100);
  else VPCI_FUZZ_CHECK(lowest != nullptr && offset == lowest->start);
  for (const extended_capability& c : w.list)
    VPCI_FUZZ_CHECK(!overlaps(offset, end, c.offset, extent_end(original, c, w.list)));

  // Only the VSEC's headers and one link changed.
  const std::size_t link = list_empty ? 0x100 : w.list.back().offset;
  for (std::size_t i = 0; i < space.size(); ++i) {
    const bool header = i >= offset && i < offset + kind.header_size();
    const bool linked = i >= link && i < link + 4;
    if (!header && !linked) VPCI_FUZZ_CHECK(space[i] == original[i]);
  }

  const walked after = walk(space);
  VPCI_FUZZ_CHECK(after.error == no_error);
  std::vector<extended_capability> expected = w.list;
  if (list_empty && offset != 0x100) expected.push_back({extended_capability_id::null_capability, 0, 0x100, 0});
  if (!expected.empty())  // the tail's link, its reserved bits 1:0 kept
    expected.back().next = static_cast<std::uint16_t>(offset | (expected.back().next & 3u));
  expected.push_back({kind.id(), kind.version(), static_cast<std::uint16_t>(offset), 0});
  VPCI_FUZZ_CHECK(after.list == expected);
  VPCI_FUZZ_CHECK(kind.decodes_as_requested(space, offset));

  auto map_after = find_free_space(space);
  VPCI_FUZZ_CHECK(map_after.has_value());
  for (const free_range& r : *map_after) VPCI_FUZZ_CHECK(!overlaps(offset, end, r.start, r.end));
  check_free_space(space, after, map_after);

  image twice = space;
  auto second = kind.place(twice);
  if (second) VPCI_FUZZ_CHECK(!overlaps(offset, end, *second, *second + request.length));

  VPCI_FUZZ_CHECK(kind.free(space, static_cast<std::uint16_t>(offset)) == no_error);
  VPCI_FUZZ_CHECK(space == original);
}

void check_free(const image& original, const walked& w, std::uint16_t offset, const placement_kind& kind) {
  image space = original;
  const errc e = kind.free(space, offset);
  if (e != no_error) {
    VPCI_FUZZ_CHECK(space == original);
    VPCI_FUZZ_CHECK(one_of(e, errc::not_found, errc::out_of_range, errc::malformed_message, errc::capability_loop,
                           errc::bad_capability_pointer, errc::not_supported));
    if (w.error != no_error) VPCI_FUZZ_CHECK(e == w.error);
    return;
  }
  VPCI_FUZZ_CHECK(w.error == no_error);
  auto target = std::find_if(w.list.begin(), w.list.end(), [&](const extended_capability& c) { return c.offset == offset; });
  VPCI_FUZZ_CHECK(target != w.list.end() && target->id == kind.id());
  auto length = kind.length_at(original, offset);
  VPCI_FUZZ_CHECK(length.has_value());
  const std::size_t end = std::size_t{offset} + *length;
  VPCI_FUZZ_CHECK(end <= original.size());

  // The list it leaves: the old one without the VSEC, its predecessor linked past it (a Null head at 0x100
  // when it was the head and others follow). When the VSEC ended the list, Null Capabilities of version 0
  // left at the end would be all-zero headers: they go too, back to the last other entry.
  const auto t = static_cast<std::size_t>(target - w.list.begin());
  std::vector<extended_capability> expected;
  for (std::size_t i = 0; i < w.list.size(); ++i)
    if (i != t) expected.push_back(w.list[i]);
  if (t == 0) {
    if ((target->next & 0xFFCu) != 0) expected.insert(expected.begin(), {extended_capability_id::null_capability, 0, 0x100, static_cast<std::uint16_t>(target->next & 0xFFCu)});
  } else {
    // Links are rewritten with their reserved bits 1:0 kept; a Null Capability of version 0 with them set
    // is not an all-zero header and can end the list.
    const auto relinked = static_cast<std::uint16_t>((target->next & 0xFFCu) | (expected[t - 1].next & 3u));
    const bool all_ones = expected[t - 1].id == 0xFFFF && expected[t - 1].version == 0xF && relinked == 0xFFF;
    expected[t - 1].next = all_ones ? static_cast<std::uint16_t>(target->next & 0xFFCu) : relinked;  // never all ones
    while ((target->next & 0xFFCu) == 0 && !expected.empty() && expected.back().id == extended_capability_id::null_capability &&
           expected.back().version == 0 && (expected.back().next & 3u) == 0) {
      expected.pop_back();
      if (!expected.empty()) expected.back().next &= 3u;
    }
  }
  const walked after = walk(space);
  VPCI_FUZZ_CHECK(after.error == no_error);
  VPCI_FUZZ_CHECK(after.list == expected);
  VPCI_FUZZ_CHECK(extended_list_empty(space) == expected.empty());

  // Bytes: the VSEC's are zero (but a Null head written at 0x100), relinked headers are as the list says,
  // unlinked Null Capabilities are zero, and nothing else changed.
  std::vector<bool> header_dword(space.size(), false);
  for (const extended_capability& c : w.list)
    for (std::size_t i = c.offset; i < c.offset + 4u; ++i) header_dword[i] = true;
  for (std::size_t i = 0; i < space.size(); ++i) {
    const bool in_vsec = i >= offset && i < end;
    if (t == 0 && (target->next & 0xFFCu) != 0 && i >= offset && i < offset + 4u) continue;  // the Null head: the walk checked it
    if (in_vsec) {
      VPCI_FUZZ_CHECK(space[i] == std::byte{0});
    } else if (header_dword[i]) {
      const std::size_t at = i & ~std::size_t{3};
      const bool kept = std::any_of(expected.begin(), expected.end(),
                                    [&](const extended_capability& c) { return c.offset == at; });
      if (!kept) VPCI_FUZZ_CHECK(space[i] == std::byte{0});
    } else {
      VPCI_FUZZ_CHECK(space[i] == original[i]);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  input_reader in{as_bytes(data, size)};
  const std::uint8_t mode = in.u8();
  placement_kind kind;
  kind.dvsec = (mode & 4) != 0;
  vsec_request& request = kind.request;
  request.vsec_id = in.u16();
  request.vsec_revision = in.u8();
  request.length = in.u16();
  if ((mode & 1) == 0) request.length = static_cast<std::uint16_t>(4 * (request.length % 0x400));
  if ((mode & 2) == 0) request.vsec_revision &= 0xF;
  const exact_bytes exact{in.rest()};
  const image original(exact.view().begin(), exact.view().end());

  const walked w = walk(exact.view());
  const auto map = find_free_space(exact.view());
  check_free_space(exact.view(), w, map);
  check_place(original, w, map, kind);

  std::size_t tried = 0;
  for (const extended_capability& c : w.list) {
    if (c.id != kind.id()) continue;
    check_free(original, w, c.offset, kind);
    if (++tried == 8) break;
  }
  check_free(original, w, 0x100, kind);
  check_free(original, w, static_cast<std::uint16_t>(request.length), kind);
  return 0;
}
