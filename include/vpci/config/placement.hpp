// The free space of the extended config space (0x100 up to the snapshot's end) and a placement allocator
// that puts a region there as a VSEC or a DVSEC (one rule for both), linked into the extended capability
// list, and frees it again.
// Freestanding: no heap, no I/O; the allocator edits the caller's span in place.
//
// Which bytes a capability occupies (its extent), from its header at offset O:
// - fixed-size capabilities use their size from the PCIe base spec: AER 0x48 (the largest layout, with the
//   root-port and TLP-prefix log registers), Device Serial Number 0x0C, Power Budgeting 0x10, ARI 8, ATS 8,
//   SR-IOV 0x40, Page Request 0x10, LTR 8, PASID 8, L1 PM Substates 0x10, PTM 0x0C, Data Link Feature
//   0x0C, the Null Capability 4;
// - VSEC and DVSEC: their length field (when it decodes);
// - ACS: 8 bytes plus the egress control vector when the capability register advertises one;
// - Resizable BAR: 4 + 8 bytes per resizable BAR (the count in the first control register);
// - anything else (unknown IDs, variable layouts such as Virtual Channel, or a VSEC whose length does not
//   decode): from O up to the next capability header above it in address order, or to the end of the
//   space if none is above it, and at least the header dword.
// The rule is conservative on purpose: treating space as used only costs room, while writing over a
// register some capability owns breaks the device. For the same reason a dword is free only if no
// capability occupies it *and* it reads as zero (devices keep undocumented registers outside the list),
// and the dword at 0x100 (the list head) is never reported free, even when the list is empty.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>

#include <vpci/block/endian.hpp>
#include <vpci/config/access.hpp>
#include <vpci/config/capabilities.hpp>
#include <vpci/config/sriov.hpp>
#include <vpci/config/vsec.hpp>
#include <vpci/protocol/errc.hpp>
#include <vpci/protocol/result.hpp>

namespace vpci::config {

// [start, end) in bytes, both dword aligned.
struct free_range {
  std::uint16_t start = 0;
  std::uint16_t end = 0;
  [[nodiscard]] constexpr std::size_t size() const noexcept { return std::size_t{end} - start; }
  friend constexpr bool operator==(const free_range&, const free_range&) = default;
};

// At most every other dword of the extended space is a separate free range.
inline constexpr std::size_t max_free_ranges = max_extended_capabilities / 2;
using free_space_map = bounded_list<free_range, max_free_ranges>;

// The extent of a capability whose size the spec fixes or its registers state; 0 when it has neither
// (then the caller applies the "up to the next header" rule).
[[nodiscard]] constexpr std::size_t known_extent(std::span<const std::byte> space, const extended_capability& cap) noexcept {
  namespace id = extended_capability_id;
  switch (cap.id) {
    case id::null_capability: return 4;
    case id::advanced_error_reporting: return 0x48;
    case id::device_serial_number: return 0x0C;
    case id::power_budgeting: return 0x10;
    case id::alternative_routing_id: return 8;
    case id::address_translation_services: return 8;
    case id::sriov: return sriov_capability_size;
    case id::page_request: return 0x10;
    case id::latency_tolerance_reporting: return 8;
    case id::pasid: return 8;
    case id::l1_pm_substates: return 0x10;
    case id::precision_time_measurement: return 0x0C;
    case id::data_link_feature: return 0x0C;
    case id::vendor_specific: {
      auto v = decode_vsec(space, cap.offset);
      return v ? v->length : 0;
    }
    case id::designated_vendor_specific: {
      auto d = decode_dvsec(space, cap.offset);
      return d ? d->length : 0;
    }
    case id::access_control_services: {
      if (cap.offset + std::size_t{6} > space.size()) return 0;
      const std::uint16_t acs_caps = le::load_u16(space.data() + cap.offset + 4);
      if ((acs_caps & 0x0020) == 0) return 8;  // no egress control vector
      const std::size_t bits = (acs_caps >> 8) == 0 ? 256 : (acs_caps >> 8);
      return 8 + 4 * ((bits + 31) / 32);
    }
    case id::resizable_bar: {
      if (cap.offset + std::size_t{12} > space.size()) return 0;
      const std::size_t bars = (le::load_u32(space.data() + cap.offset + 8) >> 5) & 0x7;
      return bars >= 1 && bars <= 6 ? 4 + 8 * bars : 0;
    }
    default: return 0;
  }
}

namespace detail {
// One bit per dword of a 4096-byte space.
class dword_set {
 public:
  constexpr void insert(std::size_t offset) noexcept {
    const std::size_t dword = offset / 4;
    if (dword < 1024) words_[dword / 64] |= std::uint64_t{1} << (dword % 64);
  }
  // Inserts every dword overlapping [start, end).
  constexpr void insert_range(std::size_t start, std::size_t end) noexcept {
    for (std::size_t at = start & ~std::size_t{3}; at < end; at += 4) insert(at);
  }
  [[nodiscard]] constexpr bool contains(std::size_t offset) const noexcept {
    const std::size_t dword = offset / 4;
    return dword < 1024 && (words_[dword / 64] >> (dword % 64) & 1) != 0;
  }

 private:
  std::array<std::uint64_t, 16> words_{};
};

// Calls visit(capability, extent) for each extended capability the walk reaches, with its extent by the
// rules above. Fails with the extended walk's error (after visiting what came before the break): a broken
// list says nothing reliable about what is used.
template <class Visitor>
constexpr errc for_each_extent(std::span<const std::byte> space, Visitor&& visit) noexcept {
  dword_set headers;
  (void)for_each_extended_capability(space, [&](const extended_capability& c) { headers.insert(c.offset); });
  const std::size_t limit = space.size() < extended_space_size ? space.size() : extended_space_size;
  return for_each_extended_capability(space, [&](const extended_capability& c) {
    std::size_t extent = known_extent(space, c);
    if (extent == 0) {
      extent = 4;
      while (c.offset + extent < limit && !headers.contains(c.offset + extent)) extent += 4;
    }
    visit(c, extent);
  });
}

// Dwords of the extended space that capabilities occupy, by the extent rules above.
constexpr errc occupied_dwords(std::span<const std::byte> space, dword_set& used) noexcept {
  used.insert(extended_capabilities_start);
  return for_each_extent(space, [&](const extended_capability& c, std::size_t extent) {
    used.insert_range(c.offset, c.offset + extent);
  });
}

constexpr std::size_t extended_limit(std::span<const std::byte> space) noexcept {
  const std::size_t limit = space.size() < extended_space_size ? space.size() : extended_space_size;
  return limit & ~std::size_t{3};
}
}  // namespace detail

// Calls visit(const free_range&) for each free range of [0x100, end of snapshot), ascending, and stops
// early when visit returns false (a visitor may also return void). Keeps no list: about 300 bytes of stack
// beside the visitor's, which is what the placement below uses on a firmware's stack. Fails with the
// extended walk's error when the list is malformed (and then visits nothing).
template <class Visitor>
constexpr errc for_each_free_range(std::span<const std::byte> space, Visitor&& visit) {
  static_assert(std::is_invocable_v<Visitor&, const free_range&>, "the visitor must accept a free_range");
  detail::dword_set used;
  if (errc e = detail::occupied_dwords(space, used); e != no_error) return e;
  auto go_on = [&](std::size_t start, std::size_t end) {
    const free_range range{static_cast<std::uint16_t>(start), static_cast<std::uint16_t>(end)};
    if constexpr (std::is_same_v<std::invoke_result_t<Visitor&, const free_range&>, void>) {
      visit(range);
      return true;
    } else {
      return static_cast<bool>(visit(range));
    }
  };
  const std::size_t limit = detail::extended_limit(space);
  std::size_t run_start = 0;
  bool in_run = false;
  for (std::size_t at = extended_capabilities_start; at < limit; at += 4) {
    const bool is_free = !used.contains(at) && le::load_u32(space.data() + at) == 0;
    if (is_free && !in_run) {
      run_start = at;
      in_run = true;
    } else if (!is_free && in_run) {
      in_run = false;
      if (!go_on(run_start, at)) return no_error;
    }
  }
  if (in_run) (void)go_on(run_start, limit);
  return no_error;
}

// Whether a capability other than the one at `offset` occupies a byte of [offset, offset + length), by the
// extent rules above (a capability found in the list, `length` bytes long by its own header), among those
// the extended walk reaches: a list that breaks further on leaves the bytes before the break judged.
[[nodiscard]] constexpr bool overlaps_another_capability(std::span<const std::byte> space, std::size_t offset,
                                                         std::size_t length) noexcept {
  bool overlaps = false;
  (void)detail::for_each_extent(space, [&](const extended_capability& c, std::size_t extent) {
    if (c.offset != offset && c.offset < offset + length && offset < c.offset + extent) overlaps = true;
  });
  return overlaps;
}

// The free ranges of [0x100, end of snapshot), ascending. A snapshot of 256 bytes or less has none. Fails
// with the extended walk's error when the list is malformed. The map is about 2 KiB (4 KiB of stack at -Os
// on a Cortex-M4): on small firmware stacks prefer for_each_free_range.
[[nodiscard]] constexpr result<free_space_map> find_free_space(std::span<const std::byte> space) noexcept {
  free_space_map map;
  if (errc e = for_each_free_range(space, [&](const free_range& r) { map.push_back(r); }); e != no_error) return e;
  return map;
}

struct vsec_request {
  std::uint16_t vsec_id = 0;
  std::uint8_t vsec_revision = 0;  // 0..15
  std::uint16_t length = 0;        // bytes, both headers included: 8..0xFFC, a multiple of 4
};

struct dvsec_request {
  std::uint16_t vendor_id = 0;  // the DVSEC vendor ID: who defines the DVSEC ID
  std::uint16_t dvsec_id = 0;
  std::uint8_t revision = 0;  // 0..15
  std::uint16_t length = 0;   // bytes, all three header dwords included: 12..0xFFC, a multiple of 4
};

// Version of the extended capability header written for a placed VSEC or DVSEC.
inline constexpr std::uint8_t placed_vsec_version = 1;
inline constexpr std::uint8_t placed_dvsec_version = 1;

namespace detail {
// Whether a change after which dword `at` reads `after(at)` would leave the space repeating its header from
// 0x100 on with a list there (extended_space_aliases_header): a list no walk reads, Linux's included
// (pci_ext_cfg_is_aliased), so that nothing in it, a capability just placed included, could be found or
// freed. An empty list hides nothing. Asked before anything is written.
template <class DwordAfter>
constexpr bool hides_extended_list(std::size_t size, DwordAfter after) noexcept {
  if (size < extended_capabilities_start + 4) return false;
  const std::uint32_t head = after(extended_capabilities_start);
  if (head == 0 || head == 0xFFFFFFFFu) return false;
  return repeats_header_from_extended_start(size, after);
}

// A header dword a placement or a removal writes.
struct header_write {
  std::size_t at = 0;  // 0: none (the header at 0 is never a capability's)
  std::uint32_t value = 0;
};

// The placement rule, shared by VSECs and DVSECs: puts a capability of `length` bytes (already validated)
// with extended capability ID `id` in the lowest free range that holds it, writes its extended header and
// then `headers` (the dwords after it; the body stays zero, as free space is), and appends it to the end of
// the extended list. If the list is empty, it goes at 0x100 when the space from there is free; otherwise a
// Null Capability header (ID 0, version 0) at 0x100 points to it. Returns its offset. Errors, with the span
// unchanged: the extended walk's error for a malformed list; errc::insufficient_resources when no free range
// holds it (including a space with no extended part: 256 bytes, or all ones at 0x100); errc::not_supported
// for a space that repeats its header at 0x100 (no extended space: extended_space_aliases_header), or that
// would once the capability is placed (its headers and link equal to the function's first dword).
constexpr result<std::uint16_t> place_extended(std::span<std::byte> space, std::uint16_t id, std::uint8_t version,
                                               std::span<const std::uint32_t> headers, std::size_t length) noexcept {
  const std::span<const std::byte> view{space};
  const bool list_empty = extended_list_empty(view);
  // The lowest free range that holds it; with the list empty, 0x100 itself when the space from there is
  // free (the head dword is never a free range, so such a space's first range starts at 0x104).
  std::size_t offset = 0;
  bool first_range = true;
  const errc walk = for_each_free_range(view, [&](const free_range& r) {
    if (first_range && list_empty && r.start == extended_capabilities_start + 4 &&
        r.end >= extended_capabilities_start + length) {
      offset = extended_capabilities_start;
      return false;
    }
    first_range = false;
    if (r.size() < length) return true;
    offset = r.start;
    return false;
  });
  if (walk != no_error) return walk;
  if (list_empty && (space.size() < extended_capabilities_start + 4 ||
                     detail::read_u32(view, extended_capabilities_start) != 0))
    return errc::insufficient_resources;
  if (offset == 0) return errc::insufficient_resources;

  std::size_t tail = 0;
  if (!list_empty) {
    errc e = for_each_extended_capability(view, [&](const extended_capability& c) { tail = c.offset; });
    if (e != no_error) return e;  // unreachable: find_free_space walked the same list
  }
  // Every dword the placement writes: the extended header, `headers` (two at most), and one link (a Null
  // Capability head at 0x100 for an empty list, or the tail's header).
  const auto link = static_cast<std::uint16_t>(offset);
  header_write writes[4] = {{offset, encode_extended_header(id, version, 0)}};
  for (std::size_t i = 0; i < headers.size() && i < 2; ++i) writes[1 + i] = {offset + 4 + 4 * i, headers[i]};
  if (!list_empty)
    writes[3] = {tail, relinked_header(decode_extended_header(read_u32(view, tail), static_cast<std::uint16_t>(tail)), link)};
  else if (offset != extended_capabilities_start)
    writes[3] = {extended_capabilities_start, encode_extended_header(extended_capability_id::null_capability, 0, link)};
  const auto after = [&](std::size_t at) {
    for (const header_write& w : writes)
      if (w.at != 0 && w.at == at) return w.value;
    return read_u32(view, at);
  };
  if (hides_extended_list(space.size(), after)) return errc::not_supported;
  for (const header_write& w : writes)
    if (w.at != 0) le::store_u32(space.data() + w.at, w.value);
  return link;
}

// A region length both placements accept: dword aligned, from `minimum` up to the 12-bit length field's
// largest multiple of 4.
constexpr bool valid_placed_length(std::size_t length, std::size_t minimum) noexcept {
  return length >= minimum && length <= 0xFFC && length % 4 == 0;
}
}  // namespace detail

// Places a VSEC of request.length bytes by the placement rule (detail::place_extended: the lowest free
// range that holds it, appended to the extended list, or at 0x100 / behind a Null Capability head when the
// list is empty) and writes its two headers. Returns the VSEC's offset.
// Errors, with the span unchanged: errc::invalid_argument (length not 8..0xFFC and dword aligned, or
// revision > 15); the extended walk's error for a malformed list; errc::insufficient_resources when no
// free range holds it (including a space with no extended part: 256 bytes, or all ones at 0x100);
// errc::not_supported for a space that repeats its header at 0x100 (extended_space_aliases_header), or
// would once the VSEC is placed (its headers or link equal to the function's first dword at every 256-byte
// boundary: a list no walk reads).
[[nodiscard]] constexpr result<std::uint16_t> place_vsec(std::span<std::byte> space, const vsec_request& request) noexcept {
  if (!detail::valid_placed_length(request.length, vsec_header_size) || request.vsec_revision > 0xF)
    return errc::invalid_argument;
  const std::uint32_t headers[] = {encode_vsec_word(request.vsec_id, request.vsec_revision, request.length)};
  return detail::place_extended(space, extended_capability_id::vendor_specific, placed_vsec_version, headers,
                                request.length);
}

// Places a DVSEC (Designated Vendor-Specific Extended Capability, ID 0x0023) of request.length bytes by the
// same rule and writes its three header dwords (extended header; DVSEC vendor ID, revision and length;
// DVSEC ID). Returns the DVSEC's offset. Errors, with the span unchanged: errc::invalid_argument (length
// not 12..0xFFC and dword aligned, or revision > 15); otherwise those of place_vsec.
[[nodiscard]] constexpr result<std::uint16_t> place_dvsec(std::span<std::byte> space, const dvsec_request& request) noexcept {
  constexpr std::size_t dvsec_headers_size = 12;  // the DVSEC ID ends at 10; a length is dword aligned
  if (!detail::valid_placed_length(request.length, dvsec_headers_size) || request.revision > 0xF)
    return errc::invalid_argument;
  const std::uint32_t headers[] = {encode_dvsec_header1(request.vendor_id, request.revision, request.length),
                                   encode_dvsec_header2(request.dvsec_id)};
  return detail::place_extended(space, extended_capability_id::designated_vendor_specific, placed_dvsec_version,
                                headers, request.length);
}

namespace detail {
// Unlinks the capability with extended ID `id` whose header is at `offset` and whose length
// `length_of(view, offset)` gives (a result<header with .length>), and zeroes its bytes; the rules and
// errors of free_vsec below.
template <class LengthOf>
constexpr errc free_extended(std::span<std::byte> space, std::uint16_t offset, std::uint16_t id, LengthOf length_of) noexcept {
  const std::span<const std::byte> view{space};
  extended_capability target;
  std::size_t predecessor = 0;
  std::size_t previous = 0;
  std::size_t keeper = 0;  // the last entry before the target that can end the list (see below)
  bool found = false;
  errc e = for_each_extended_capability(view, [&](const extended_capability& c) {
    if (found) return;
    if (c.offset == offset) {
      target = c;
      predecessor = previous;
      found = true;
      return;
    }
    previous = c.offset;
    if (relinked_header(c, 0) != 0) keeper = c.offset;  // ending the list, its header is not all zeros
  });
  if (e != no_error) return e;
  if (!found || target.id != id) return errc::not_found;
  auto header = length_of(view, offset);
  if (!header) return header.error();
  const std::size_t end = std::size_t{offset} + header->length;
  if (end > space.size()) return errc::out_of_range;
  bool covers_other = false;
  e = for_each_extended_capability(view, [&](const extended_capability& c) {
    if (c.offset > offset && c.offset < end) covers_other = true;
  });
  if (covers_other) return errc::malformed_message;

  // What the removal writes, decided before anything is written: the capability's bytes zeroed, then one
  // header (a Null Capability head at 0x100 linking past it, or the predecessor's or the keeper's header
  // relinked), and the Null Capabilities of version 0 from `chain` up to it zeroed when it ended the list
  // behind them.
  header_write link{};
  std::size_t chain = 0;  // 0: none to zero
  if (predecessor == 0) {
    if (target.next_offset() != 0)
      link = {offset, encode_extended_header(extended_capability_id::null_capability, 0, target.next_offset())};
  } else {
    const extended_capability before =
        decode_extended_header(read_u32(view, predecessor), static_cast<std::uint16_t>(predecessor));
    const std::uint32_t linked = relinked_header(before, target.next_offset());
    if (linked != 0 || predecessor == extended_capabilities_start) {
      link = {predecessor, linked};  // at 0x100 an all-zero header is the empty list
    } else {
      // The capability ended the list behind Null Capabilities of version 0: the keeper ends it now (or,
      // with none, the list is empty) and the Null Capabilities from there up to it are zeroed. The walk
      // above followed this chain, so it reaches `offset`.
      chain = extended_capabilities_start;
      if (keeper != 0) {
        const extended_capability kept = decode_extended_header(read_u32(view, keeper), static_cast<std::uint16_t>(keeper));
        chain = kept.next_offset();
        link = {keeper, relinked_header(kept, 0)};
      }
    }
  }
  const auto next_of = [view](std::size_t at) {
    return decode_extended_header(read_u32(view, at), static_cast<std::uint16_t>(at)).next_offset();
  };
  const auto in_chain = [&](std::size_t at) {
    for (std::size_t c = chain; c != 0 && c != offset; c = next_of(c))
      if (c == at) return true;
    return false;
  };
  const auto after = [&](std::size_t at) -> std::uint32_t {
    if (link.at != 0 && at == link.at) return link.value;
    if ((at >= offset && at < end) || in_chain(at)) return 0;
    return read_u32(view, at);
  };
  if (hides_extended_list(space.size(), after)) return errc::not_supported;

  std::byte* p = space.data();
  for (std::size_t at = offset; at < end; ++at) p[at] = std::byte{0};
  if (link.at != 0) le::store_u32(p + link.at, link.value);
  for (std::size_t at = chain; at != 0 && at != offset;) {
    const std::size_t next = next_of(at);
    le::store_u32(p + at, 0);
    at = next;
  }
  return no_error;
}
}  // namespace detail

// Unlinks the VSEC whose header is at `offset` and zeroes its bytes. When it is the head at 0x100 and
// others follow, a Null Capability header pointing to the next one stays at 0x100 (the list must start
// there). The header that links past it keeps its ID, version and its link's reserved bits 1:0
// (relinked_header), with one exception: a Null Capability of version 0 left pointing nowhere, with those
// bits clear, would be an all-zero header, which ends a list only at 0x100 (the empty list) and reads as a
// broken link anywhere else. It links nothing, so it is unlinked and zeroed as well, with any such Null
// Capabilities before it: the entry before them ends the list, or the list is empty.
// Errors, with the span unchanged: the extended walk's error for a malformed list; errc::not_found when no
// VSEC is linked at `offset`; decode_vsec's errors for its length; errc::out_of_range when the VSEC runs
// past the snapshot; errc::malformed_message when its length covers another capability's header;
// errc::not_supported when the space would then repeat its header from 0x100 on with a list there (a
// relinked header equal to the function's first dword: extended_space_aliases_header, a list no walk reads).
[[nodiscard]] constexpr errc free_vsec(std::span<std::byte> space, std::uint16_t offset) noexcept {
  return detail::free_extended(space, offset, extended_capability_id::vendor_specific,
                               [](std::span<const std::byte> view, std::size_t at) { return decode_vsec(view, at); });
}

// Unlinks the DVSEC whose header is at `offset` and zeroes its bytes, by free_vsec's rules; errc::not_found
// when no DVSEC is linked at `offset`, decode_dvsec's errors for its length, otherwise free_vsec's errors.
[[nodiscard]] constexpr errc free_dvsec(std::span<std::byte> space, std::uint16_t offset) noexcept {
  return detail::free_extended(space, offset, extended_capability_id::designated_vendor_specific,
                               [](std::span<const std::byte> view, std::size_t at) { return decode_dvsec(view, at); });
}

}  // namespace vpci::config
