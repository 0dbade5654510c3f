// Discovery of the vpci mailbox window (binding 1, layout 2) in a config-space snapshot: the DVSEC named by
// its DVSEC vendor ID and DVSEC ID, found by walking the extended capability list (docs/protocol.md,
// Discovery). Both names are the IHV's choice; vpci's defaults are the function's own vendor ID (config
// offset 0x00; any vendor on a VF, whose vendor ID reads 0xFFFF) and DVSEC ID 0x5650 ("VP").
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include <vpci/block/endian.hpp>
#include <vpci/config/capabilities.hpp>
#include <vpci/config/header.hpp>
#include <vpci/config/placement.hpp>
#include <vpci/config/vsec.hpp>
#include <vpci/protocol/errc.hpp>
#include <vpci/protocol/result.hpp>
#include <vpci/wire/mailbox.hpp>

namespace vpci::config {

// The offset of the mailbox window: the first DVSEC in list order whose DVSEC vendor ID and DVSEC ID are
// `dvsec_vendor_id` (config::any_dvsec_vendor: any) and `dvsec_id` (a DVSEC of another vendor or ID is
// foreign and skipped), if it is a layout-2 window. Errors:
// - errc::not_found: no such DVSEC in the (well-formed part of the) list;
// - errc::revision_mismatch: the DVSEC revision is not 2, or the identity register's layout version is
//   neither 2 nor 0 (a window this library does not speak; 0 is a window no PF has initialised yet, found);
// - errc::not_supported: a revision-2 DVSEC shorter than the window (0xB8 bytes);
// - errc::out_of_range: the snapshot ends before the identity register;
// - errc::malformed_message: another capability occupies bytes of the DVSEC (by config/placement.hpp's
//   extent rules): a window there is no window, and a VF's writes into it would overwrite that capability;
// - errc::peer_gone: the function reads all ones (its header and the extended list's head): it no longer
//   answers config reads (removed, VF Enable cleared), which is not "no mailbox here";
// - the walk's error when the list breaks before such a DVSEC (a broken list cannot be trusted).
// The first DVSEC with these names decides: a later one is never looked at.
[[nodiscard]] constexpr result<std::size_t> find_mailbox(std::span<const std::byte> space,
                                                         dvsec_vendor_filter dvsec_vendor_id,
                                                         std::uint16_t dvsec_id = mailbox::default_dvsec_id) noexcept {
  const auto all_ones = [&](std::size_t at) { return at + 4 <= space.size() && le::load_u32(space.data() + at) == 0xFFFF'FFFFu; };
  if (all_ones(0) && all_ones(8) && all_ones(extended_capabilities_start)) return errc::peer_gone;
  auto dvsec = find_dvsec(space, dvsec_vendor_id, dvsec_id);
  if (!dvsec) return dvsec.error();
  if (dvsec->revision != mailbox::dvsec_revision) return errc::revision_mismatch;
  if (dvsec->length < mailbox::window_size) return errc::not_supported;
  const std::size_t identity = std::size_t{dvsec->offset} + mailbox::reg::identity;
  if (identity + 4 > space.size()) return errc::out_of_range;
  // A window no PF has initialised yet (a VF driver that loads before its PF) is the window, not yet usable
  // (a VF's requests fail with not_found until it is).
  if (mailbox::layout_of(le::load_u32(space.data() + identity)) == mailbox::identity_layout::other)
    return errc::revision_mismatch;
  if (overlaps_another_capability(space, dvsec->offset, dvsec->length)) return errc::malformed_message;
  return std::size_t{dvsec->offset};
}

// The same with vpci's defaults: the function's own vendor ID (from the standard header; errc::out_of_range
// for a snapshot shorter than it) and DVSEC ID 0x5650. A VF's vendor ID register reads 0xFFFF (PCIe SR-IOV:
// the VF shares its PF's vendor ID, which its own config space does not hold; Linux takes pdev->vendor from
// the PF): there, the first DVSEC 0x5650 of any vendor. A caller that knows the PF's vendor ID names it.
[[nodiscard]] constexpr dvsec_vendor_filter default_dvsec_vendor(const standard_header& header) noexcept {
  return header.vendor_id == vf_vendor_id ? any_dvsec_vendor : dvsec_vendor_filter(header.vendor_id);
}
[[nodiscard]] constexpr result<std::size_t> find_mailbox(std::span<const std::byte> space) noexcept {
  auto header = decode_header(space);
  if (!header) return header.error();
  return find_mailbox(space, default_dvsec_vendor(*header), mailbox::default_dvsec_id);
}

}  // namespace vpci::config
