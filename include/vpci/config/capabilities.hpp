// Walks of the standard capability list (from the header's capability pointer) and of the PCIe extended
// capability list (from 0x100) over a snapshot of a config space. Freestanding: no heap, no I/O.
//
// Both walks are bounded and loop-safe on any input: each position is visited at most once (a bitmap of
// dword positions), every read is checked against the snapshot's size, and a malformed list ends the walk
// with an error while keeping what was found before it:
// - errc::capability_loop: a pointer leads back to an entry already visited (self loops included);
// - errc::bad_capability_pointer: a standard pointer into the header (< 0x40) or to an entry with ID 0xFF
//   (what an absent or resetting function reads: Linux ends its walk there, lspci says "chain broken");
//   an extended `next` below 0x100 (once masked, see below) or leading to an empty (all-zero or all-ones)
//   header;
// - errc::not_supported: the standard list of a header layout other than 0, 1 and 2 (an all-ones space
//   reads layout 0x7F): no layout says where its capability pointer is, so nothing is walked; the
//   extended list of a space whose every 256-byte boundary from 0x100 reads the header's first dword
//   (extended_space_aliases_header: no extended space, only the header repeated);
// - errc::out_of_range: the pointer is valid but the snapshot ends before the entry (a truncated snapshot,
//   e.g. the 64 bytes an unprivileged sysfs read returns).
//
// Alignment: bits 1:0 of every pointer, standard and extended, are reserved, and the PCI and PCIe specs
// tell software to mask them. Both walks do, as Linux does (PCI_EXT_CAP_NEXT, pci_find_next_ext_capability)
// and lspci (ls-ecaps.c): a set low bit is not an error, and a DVSEC that Linux finds behind such a link
// is found here too (a VF would otherwise miss a mailbox its Linux driver sees). A masked extended `next`
// of 0 ends the list, as it ends Linux's walk. A list that is not a list (the header repeated at 0x100,
// pciutils' "broken-ecaps") is told by Linux's own sign, not by alignment: see
// extended_space_aliases_header.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>

#include <vpci/block/endian.hpp>
#include <vpci/config/header.hpp>
#include <vpci/protocol/errc.hpp>
#include <vpci/protocol/result.hpp>

namespace vpci::config {

inline constexpr std::size_t extended_capabilities_start = 0x100;
inline constexpr std::size_t standard_capabilities_start = 0x40;
// Upper bounds on list lengths: one entry per dword position the list may use.
inline constexpr std::size_t max_standard_capabilities = (256 - standard_capabilities_start) / 4;           // 48
inline constexpr std::size_t max_extended_capabilities = (4096 - extended_capabilities_start) / 4;         // 960
// The ID a standard entry reads as when nothing answers there: never a capability.
inline constexpr std::uint8_t absent_capability_id = 0xFF;

// Standard capability IDs used in this library and its tools.
namespace capability_id {
inline constexpr std::uint8_t power_management = 0x01;
inline constexpr std::uint8_t msi = 0x05;
inline constexpr std::uint8_t pci_x = 0x07;
inline constexpr std::uint8_t vendor_specific = 0x09;
inline constexpr std::uint8_t pci_express = 0x10;
inline constexpr std::uint8_t msix = 0x11;
}  // namespace capability_id

// Extended capability IDs (PCIe base spec, section 7.6 and later).
namespace extended_capability_id {
inline constexpr std::uint16_t null_capability = 0x0000;
inline constexpr std::uint16_t advanced_error_reporting = 0x0001;
inline constexpr std::uint16_t virtual_channel = 0x0002;
inline constexpr std::uint16_t device_serial_number = 0x0003;
inline constexpr std::uint16_t power_budgeting = 0x0004;
inline constexpr std::uint16_t vendor_specific = 0x000B;  // VSEC
inline constexpr std::uint16_t access_control_services = 0x000D;
inline constexpr std::uint16_t alternative_routing_id = 0x000E;  // ARI
inline constexpr std::uint16_t address_translation_services = 0x000F;
inline constexpr std::uint16_t sriov = 0x0010;
inline constexpr std::uint16_t page_request = 0x0013;
inline constexpr std::uint16_t resizable_bar = 0x0015;
inline constexpr std::uint16_t latency_tolerance_reporting = 0x0018;
inline constexpr std::uint16_t pasid = 0x001B;
inline constexpr std::uint16_t l1_pm_substates = 0x001E;
inline constexpr std::uint16_t precision_time_measurement = 0x001F;
inline constexpr std::uint16_t designated_vendor_specific = 0x0023;  // DVSEC
inline constexpr std::uint16_t data_link_feature = 0x0025;
}  // namespace extended_capability_id

// A fixed-capacity sequence: the walks' results without a heap.
template <class T, std::size_t Capacity>
class bounded_list {
 public:
  [[nodiscard]] constexpr std::size_t size() const noexcept { return size_; }
  [[nodiscard]] constexpr bool empty() const noexcept { return size_ == 0; }
  [[nodiscard]] static constexpr std::size_t capacity() noexcept { return Capacity; }
  [[nodiscard]] constexpr const T* begin() const noexcept { return items_.data(); }
  [[nodiscard]] constexpr const T* end() const noexcept { return items_.data() + size_; }
  // Precondition: index < size().
  [[nodiscard]] constexpr const T& operator[](std::size_t index) const noexcept { return items_[index]; }
  [[nodiscard]] constexpr std::span<const T> items() const noexcept { return {items_.data(), size_}; }
  // Returns false (and drops the item) when full.
  constexpr bool push_back(const T& item) noexcept {
    if (size_ == Capacity) return false;
    items_[size_++] = item;
    return true;
  }

 private:
  std::array<T, Capacity> items_{};
  std::size_t size_ = 0;
};

struct capability {
  std::uint8_t id = 0;
  std::uint8_t offset = 0;
  std::uint8_t next = 0;  // as read, bits 1:0 unmasked
  friend constexpr bool operator==(const capability&, const capability&) = default;
};

struct extended_capability {
  std::uint16_t id = 0;
  std::uint8_t version = 0;
  std::uint16_t offset = 0;
  std::uint16_t next = 0;  // bits 31:20 of the header, as read
  // Where the list goes on: `next` with its reserved bits 1:0 masked, as Linux (PCI_EXT_CAP_NEXT) and
  // lspci follow it; 0 ends the list. Whatever follows a link follows this.
  [[nodiscard]] constexpr std::uint16_t next_offset() const noexcept { return static_cast<std::uint16_t>(next & 0xFFCu); }
  friend constexpr bool operator==(const extended_capability&, const extended_capability&) = default;
};

// Extended capability header fields (PCIe: id 15:0, version 19:16, next 31:20).
[[nodiscard]] constexpr extended_capability decode_extended_header(std::uint32_t header,
                                                                   std::uint16_t offset) noexcept {
  return {static_cast<std::uint16_t>(header & 0xFFFF), static_cast<std::uint8_t>((header >> 16) & 0xF), offset,
          static_cast<std::uint16_t>(header >> 20)};
}
[[nodiscard]] constexpr std::uint32_t encode_extended_header(std::uint16_t id, std::uint8_t version,
                                                             std::uint16_t next) noexcept {
  return static_cast<std::uint32_t>(id) | static_cast<std::uint32_t>(version & 0xF) << 16 |
         static_cast<std::uint32_t>(next & 0xFFF) << 20;
}

// The header of `c` linking to `next_offset` (0: the end of the list), its reserved bits 1:0 kept as read:
// software that rewrites a link leaves reserved bits alone, so unlinking what it linked gives back the
// bytes it found. Not when keeping them would make the header all ones (ID 0xFFFF, version 15, a link to
// 0xFFC): that reads as no extended space, so the bits are dropped then.
[[nodiscard]] constexpr std::uint32_t relinked_header(const extended_capability& c, std::uint16_t next_offset) noexcept {
  const std::uint32_t kept = encode_extended_header(c.id, c.version, static_cast<std::uint16_t>(next_offset | (c.next & 3u)));
  return kept != 0xFFFFFFFFu ? kept : encode_extended_header(c.id, c.version, next_offset);
}

namespace detail {
// One bit per dword position of a 4096-byte space: the walks' "been there" set.
class visited_dwords {
 public:
  // Returns true if `offset` was already marked; marks it either way.
  constexpr bool test_and_set(std::size_t offset) noexcept {
    const std::size_t dword = (offset / 4) % 1024;
    const std::uint64_t bit = std::uint64_t{1} << (dword % 64);
    const bool seen = (words_[dword / 64] & bit) != 0;
    words_[dword / 64] |= bit;
    return seen;
  }

 private:
  std::array<std::uint64_t, 16> words_{};
};

template <class Visitor, class Entry>
constexpr void visit_entry(Visitor& visit, const Entry& entry) {
  static_assert(std::is_invocable_v<Visitor&, const Entry&>, "the visitor must accept the capability entry");
  visit(entry);
}

constexpr std::uint32_t read_u32(std::span<const std::byte> space, std::size_t offset) noexcept {
  return le::load_u32(space.data() + offset);
}
}  // namespace detail

// Calls visit(const capability&) for each standard capability, in list order. Returns no_error at the
// end of a well-formed list (or when status bit 4 says there is none), else the error that ended it.
template <class Visitor>
constexpr errc for_each_capability(std::span<const std::byte> space, Visitor&& visit) {
  auto header = decode_header(space);
  if (!header) return header.error();
  if (!header->has_capabilities_list()) return no_error;
  if (!header->known_layout()) return errc::not_supported;
  detail::visited_dwords visited;
  std::size_t pointer = header->capabilities_pointer & 0xFCu;
  while (pointer != 0) {
    if (pointer < standard_capabilities_start) return errc::bad_capability_pointer;
    if (pointer + 2 > space.size()) return errc::out_of_range;
    if (visited.test_and_set(pointer)) return errc::capability_loop;
    if (le::load_u8(space.data() + pointer) == absent_capability_id) return errc::bad_capability_pointer;
    const capability entry{le::load_u8(space.data() + pointer), static_cast<std::uint8_t>(pointer),
                           le::load_u8(space.data() + pointer + 1)};
    detail::visit_entry(visit, entry);
    pointer = entry.next & 0xFCu;
  }
  return no_error;
}

// True when the dword at 0x100 says the function has no extended capabilities: the snapshot does not
// reach past 0x100, or the header there is all zeros (empty list) or all ones (no extended space).
[[nodiscard]] constexpr bool extended_list_empty(std::span<const std::byte> space) noexcept {
  if (space.size() < extended_capabilities_start + 4) return true;
  const std::uint32_t head = detail::read_u32(space, extended_capabilities_start);
  return head == 0 || head == 0xFFFFFFFFu;
}

// True when the space from 0x100 on repeats the header: the dword at 0x100, and at every further 256-byte
// boundary the snapshot holds, reads as the dword at 0. A function without extended space may alias its
// header there (pciutils' "broken-ecaps" dump); Linux then sizes the config space at 256 bytes and never
// walks the list (pci_ext_cfg_is_aliased, drivers/pci/probe.c), so neither does this walk.
namespace detail {
// The rule of extended_space_aliases_header for a space of `size` bytes whose dwords `dword_at(offset)`
// gives (placement asks it of the space a change would leave, before making the change).
template <class DwordAt>
[[nodiscard]] constexpr bool repeats_header_from_extended_start(std::size_t size, DwordAt dword_at) noexcept {
  if (size < extended_capabilities_start + 4) return false;
  const std::uint32_t header = dword_at(std::size_t{0});
  for (std::size_t at = extended_capabilities_start; at + 4 <= size; at += extended_capabilities_start)
    if (dword_at(at) != header) return false;
  return true;
}
}  // namespace detail

[[nodiscard]] constexpr bool extended_space_aliases_header(std::span<const std::byte> space) noexcept {
  return detail::repeats_header_from_extended_start(space.size(),
                                                    [space](std::size_t at) { return detail::read_u32(space, at); });
}

// Calls visit(const extended_capability&) for each extended capability, in list order.
template <class Visitor>
constexpr errc for_each_extended_capability(std::span<const std::byte> space, Visitor&& visit) {
  if (extended_list_empty(space)) return no_error;
  if (extended_space_aliases_header(space)) return errc::not_supported;
  detail::visited_dwords visited;
  std::size_t offset = extended_capabilities_start;
  for (;;) {
    if (visited.test_and_set(offset)) return errc::capability_loop;
    const std::uint32_t raw = detail::read_u32(space, offset);
    // Only the head may be empty (checked above); a `next` leading to nothing is a broken link.
    if (raw == 0 || raw == 0xFFFFFFFFu) return errc::bad_capability_pointer;
    const extended_capability entry = decode_extended_header(raw, static_cast<std::uint16_t>(offset));
    detail::visit_entry(visit, entry);
    const std::size_t next = entry.next_offset();
    if (next == 0) return no_error;
    if (next < extended_capabilities_start) return errc::bad_capability_pointer;
    if (next + std::size_t{4} > space.size()) return errc::out_of_range;
    offset = next;
  }
}

struct capability_walk {
  bounded_list<capability, max_standard_capabilities> entries;
  errc error = no_error;  // why the walk ended early; entries holds what came before
};

struct extended_capability_walk {
  bounded_list<extended_capability, max_extended_capabilities> entries;
  errc error = no_error;
};

[[nodiscard]] constexpr capability_walk walk_capabilities(std::span<const std::byte> space) noexcept {
  capability_walk walk;
  walk.error = for_each_capability(space, [&](const capability& c) { walk.entries.push_back(c); });
  return walk;
}

// About 6 KiB: on small firmware stacks prefer for_each_extended_capability.
[[nodiscard]] constexpr extended_capability_walk walk_extended_capabilities(std::span<const std::byte> space) noexcept {
  extended_capability_walk walk;
  walk.error = for_each_extended_capability(space, [&](const extended_capability& c) { walk.entries.push_back(c); });
  return walk;
}

// The first standard capability with this ID. errc::not_found if the (well-formed part of the) list has
// none; if the list is broken before one is found, the walk's error.
[[nodiscard]] constexpr result<capability> find_capability(std::span<const std::byte> space, std::uint8_t id) noexcept {
  capability found;
  bool have = false;
  const errc e = for_each_capability(space, [&](const capability& c) {
    if (!have && c.id == id) {
      found = c;
      have = true;
    }
  });
  if (have) return found;
  return e != no_error ? e : errc::not_found;
}

[[nodiscard]] constexpr result<extended_capability> find_extended_capability(std::span<const std::byte> space,
                                                                             std::uint16_t id) noexcept {
  extended_capability found;
  bool have = false;
  const errc e = for_each_extended_capability(space, [&](const extended_capability& c) {
    if (!have && c.id == id) {
      found = c;
      have = true;
    }
  });
  if (have) return found;
  return e != no_error ? e : errc::not_found;
}

}  // namespace vpci::config
