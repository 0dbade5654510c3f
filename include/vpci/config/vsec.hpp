// Vendor-specific (VSEC, ID 0x000B) and designated vendor-specific (DVSEC, ID 0x0023) extended
// capability headers. Freestanding: no heap, no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include <vpci/block/endian.hpp>
#include <vpci/config/access.hpp>
#include <vpci/config/capabilities.hpp>
#include <vpci/protocol/errc.hpp>
#include <vpci/protocol/result.hpp>

namespace vpci::config {

inline constexpr std::size_t vsec_header_size = 8;    // extended header + VSEC header
inline constexpr std::size_t dvsec_header_size = 10;  // extended header + DVSEC header 1 + DVSEC ID
inline constexpr std::size_t max_vsec_length = 0xFFF;  // 12-bit length field

struct vsec_header {
  std::uint16_t offset = 0;
  std::uint8_t version = 0;  // of the extended capability header
  std::uint16_t next = 0;
  std::uint16_t vsec_id = 0;   // +4 bits 15:0
  std::uint8_t vsec_revision = 0;  // +4 bits 19:16
  std::uint16_t length = 0;    // +4 bits 31:20, bytes, both headers included
  friend constexpr bool operator==(const vsec_header&, const vsec_header&) = default;
};

struct dvsec_header {
  std::uint16_t offset = 0;
  std::uint8_t version = 0;
  std::uint16_t next = 0;
  std::uint16_t vendor_id = 0;  // DVSEC header 1 (+4) bits 15:0
  std::uint8_t revision = 0;    // +4 bits 19:16
  std::uint16_t length = 0;     // +4 bits 31:20, bytes, headers included
  std::uint16_t dvsec_id = 0;   // DVSEC header 2 (+8) bits 15:0
  friend constexpr bool operator==(const dvsec_header&, const dvsec_header&) = default;
};

[[nodiscard]] constexpr std::uint32_t encode_vsec_word(std::uint16_t vsec_id, std::uint8_t revision,
                                                       std::uint16_t length) noexcept {
  return static_cast<std::uint32_t>(vsec_id) | static_cast<std::uint32_t>(revision & 0xF) << 16 |
         static_cast<std::uint32_t>(length & 0xFFF) << 20;
}
// DVSEC header 1 (+4) has the VSEC header's layout, with the DVSEC vendor ID in bits 15:0; DVSEC header 2
// (+8) holds the DVSEC ID in bits 15:0 (bits 31:16 are reserved, zero).
[[nodiscard]] constexpr std::uint32_t encode_dvsec_header1(std::uint16_t vendor_id, std::uint8_t revision,
                                                           std::uint16_t length) noexcept {
  return encode_vsec_word(vendor_id, revision, length);
}
[[nodiscard]] constexpr std::uint32_t encode_dvsec_header2(std::uint16_t dvsec_id) noexcept { return dvsec_id; }

namespace detail {
// Both headers share the checks: the headers readable in the snapshot, the right ID, a length covering
// at least the headers, and a region ending inside the 4096-byte space.
constexpr errc check_vendor_header(std::span<const std::byte> space, std::size_t offset, std::size_t header_bytes,
                                   std::uint16_t expected_id, std::uint16_t length) noexcept {
  if (decode_extended_header(le::load_u32(space.data() + offset), 0).id != expected_id) return errc::not_found;
  if (length < header_bytes) return errc::malformed_message;
  if (offset + length > extended_space_size) return errc::out_of_range;
  return no_error;
}
// The two fields that name a DVSEC, and all Linux's pci_find_dvsec_capability reads of one: the DVSEC
// vendor ID (header 1, bits 15:0) and the DVSEC ID (header 2, bits 15:0), of the DVSEC whose first header
// is at `p`; the caller has checked that its 10 header bytes are inside the snapshot.
struct dvsec_names {
  std::uint16_t vendor_id;
  std::uint16_t dvsec_id;
};
[[nodiscard]] constexpr dvsec_names read_dvsec_names(const std::byte* p) noexcept {
  return {le::load_u16(p + 4), le::load_u16(p + 8)};
}
}  // namespace detail

// Decodes the VSEC at `offset`. Errors: errc::out_of_range when the snapshot ends before the 8 header
// bytes or the length runs past 4096; errc::not_found when the capability there is not a VSEC;
// errc::malformed_message when the length is below 8 (it includes both headers).
[[nodiscard]] constexpr result<vsec_header> decode_vsec(std::span<const std::byte> space, std::size_t offset) noexcept {
  if (offset > space.size() || space.size() - offset < vsec_header_size) return errc::out_of_range;
  const std::byte* p = space.data() + offset;
  const extended_capability ext = decode_extended_header(le::load_u32(p), static_cast<std::uint16_t>(offset));
  const std::uint32_t word = le::load_u32(p + 4);
  vsec_header h{ext.offset, ext.version, ext.next, static_cast<std::uint16_t>(word & 0xFFFF),
                static_cast<std::uint8_t>((word >> 16) & 0xF), static_cast<std::uint16_t>(word >> 20)};
  if (errc e = detail::check_vendor_header(space, offset, vsec_header_size, extended_capability_id::vendor_specific,
                                           h.length);
      e != no_error)
    return e;
  return h;
}

// Decodes the DVSEC at `offset`; the same errors as decode_vsec, with a minimum length of 10 (0xA).
[[nodiscard]] constexpr result<dvsec_header> decode_dvsec(std::span<const std::byte> space, std::size_t offset) noexcept {
  if (offset > space.size() || space.size() - offset < dvsec_header_size) return errc::out_of_range;
  const std::byte* p = space.data() + offset;
  const extended_capability ext = decode_extended_header(le::load_u32(p), static_cast<std::uint16_t>(offset));
  const std::uint32_t word = le::load_u32(p + 4);
  const detail::dvsec_names names = detail::read_dvsec_names(p);
  dvsec_header h{ext.offset,
                 ext.version,
                 ext.next,
                 names.vendor_id,
                 static_cast<std::uint8_t>((word >> 16) & 0xF),
                 static_cast<std::uint16_t>(word >> 20),
                 names.dvsec_id};
  if (errc e = detail::check_vendor_header(space, offset, dvsec_header_size,
                                           extended_capability_id::designated_vendor_specific, h.length);
      e != no_error)
    return e;
  return h;
}

// The DVSEC vendor a search takes: one vendor ID (converts implicitly from it), or any vendor.
class dvsec_vendor_filter {
 public:
  constexpr dvsec_vendor_filter(std::uint16_t vendor_id) noexcept : vendor_id_(vendor_id), any_(false) {}  // NOLINT: a vendor ID names one
  [[nodiscard]] static constexpr dvsec_vendor_filter any() noexcept { return dvsec_vendor_filter(); }
  [[nodiscard]] constexpr bool matches(std::uint16_t vendor_id) const noexcept { return any_ || vendor_id == vendor_id_; }

 private:
  constexpr dvsec_vendor_filter() noexcept : vendor_id_(0), any_(true) {}
  std::uint16_t vendor_id_;
  bool any_;
};
inline constexpr dvsec_vendor_filter any_dvsec_vendor = dvsec_vendor_filter::any();

// The first DVSEC in list order whose DVSEC vendor ID and DVSEC ID are these (a DVSEC is named by both: the
// same DVSEC ID means different things under different vendors), or of any vendor with `any_dvsec_vendor`.
// The names decide, as in Linux's pci_find_dvsec_capability (which reads only them): the first DVSEC so
// named is the one, even when the rest of its header does not decode; the search then ends with
// decode_dvsec's error (malformed_message, out_of_range), never with a later DVSEC a Linux driver would
// not see. A DVSEC whose names lie past the snapshot's end ends it with errc::out_of_range (it may be
// the one). Errors: errc::not_found when the (well-formed part of the) list has none, or when there is no
// extended space (the header repeated from 0x100: extended_space_aliases_header; the walk's
// errc::not_supported there said "a DVSEC that is no window" to find_mailbox's callers); the walk's error
// when the list breaks before one is found.
[[nodiscard]] constexpr result<dvsec_header> find_dvsec(std::span<const std::byte> space,
                                                        dvsec_vendor_filter vendor_id,
                                                        std::uint16_t dvsec_id) noexcept {
  result<dvsec_header> found = errc::not_found;
  bool decided = false;
  const errc walk = for_each_extended_capability(space, [&](const extended_capability& cap) {
    if (decided || cap.id != extended_capability_id::designated_vendor_specific) return;
    if (space.size() - cap.offset < dvsec_header_size) {
      found = errc::out_of_range;
      decided = true;
      return;
    }
    const detail::dvsec_names names = detail::read_dvsec_names(space.data() + cap.offset);
    if (!vendor_id.matches(names.vendor_id) || names.dvsec_id != dvsec_id) return;
    found = decode_dvsec(space, cap.offset);
    decided = true;
  });
  if (decided) return found;
  // The extended walk's not_supported is the header repeated from 0x100 on: no extended space, no DVSEC.
  return walk != no_error && walk != errc::not_supported ? walk : errc::not_found;
}

}  // namespace vpci::config
