// Discovery of the vpci mailbox window (binding 1) in a config-space snapshot: the VSEC with the vpci
// VSEC ID and revision, found by walking the extended capability list (docs/protocol.md, Discovery).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include <vpci/config/capabilities.hpp>
#include <vpci/config/vsec.hpp>
#include <vpci/protocol/errc.hpp>
#include <vpci/protocol/result.hpp>
#include <vpci/wire/mailbox.hpp>

namespace vpci::config {

// The offset of the mailbox window, errc::not_found when the list holds no vpci VSEC, errc::not_supported
// for a vpci VSEC of another revision or too short for the window, or the walk's error for a malformed list.
// The first vpci VSEC in list order decides; a window found before the list breaks is returned, while the
// walk's error takes precedence over not_supported (a list that is broken cannot be trusted either way).
[[nodiscard]] constexpr result<std::size_t> find_mailbox(std::span<const std::byte> space) noexcept {
  std::size_t found = 0;
  errc status = errc::not_found;
  const errc walk = for_each_extended_capability(space, [&](const extended_capability& cap) {
    if (status != errc::not_found || cap.id != extended_capability_id::vendor_specific) return;
    auto vsec = decode_vsec(space, cap.offset);
    if (!vsec || vsec->vsec_id != mailbox::vsec_id) return;
    if (vsec->vsec_revision != mailbox::vsec_revision || vsec->length < mailbox::window_size) {
      status = errc::not_supported;
      return;
    }
    found = cap.offset;
    status = no_error;
  });
  if (status == no_error) return found;
  if (walk != no_error) return walk;
  return status;
}

}  // namespace vpci::config
