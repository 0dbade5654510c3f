// Fuzz target: mailbox discovery (config/find_mailbox.hpp) on arbitrary config-space images.
//
// Invariants:
// - find_mailbox returns the offset of the first VSEC of the extended list, in list order, whose header
//   decodes and carries the vpci VSEC ID, when that VSEC has the vpci revision and a length covering the
//   208-byte window, even when the list breaks after it; otherwise the walk's error for a malformed list;
//   otherwise not_supported when that first vpci VSEC has another revision or is too short, or not_found;
// - a returned window is dword aligned, in the extended space (0x100 or above), inside the 4096-byte space
//   and inside its VSEC;
// - no read past the input (exact-size heap copy).
#include <cstddef>
#include <cstdint>
#include <vector>

#include <vpci/config/capabilities.hpp>
#include <vpci/config/find_mailbox.hpp>
#include <vpci/config/vsec.hpp>
#include <vpci/wire/mailbox.hpp>

#include "fuzz_support.hpp"

using namespace vpci;
using namespace vpci::config;
using namespace vpci::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const exact_bytes image{as_bytes(data, size)};
  const auto space = image.view();

  auto found = find_mailbox(space);

  std::vector<extended_capability> list;
  const errc walk = for_each_extended_capability(space, [&](const extended_capability& c) { list.push_back(c); });
  const extended_capability* first = nullptr;
  vsec_header first_header{};
  for (const extended_capability& c : list) {
    if (c.id != extended_capability_id::vendor_specific) continue;
    auto v = decode_vsec(space, c.offset);
    if (!v || v->vsec_id != mailbox::vsec_id) continue;
    first = &c;
    first_header = *v;
    break;
  }

  if (first == nullptr) {
    VPCI_FUZZ_CHECK(!found && found.error() == (walk != no_error ? walk : errc::not_found));
    return 0;
  }
  if (first_header.vsec_revision != mailbox::vsec_revision || first_header.length < mailbox::window_size) {
    VPCI_FUZZ_CHECK(!found && found.error() == (walk != no_error ? walk : errc::not_supported));
    return 0;
  }
  VPCI_FUZZ_CHECK(found.has_value() && *found == first->offset);
  const std::size_t window = *found;
  VPCI_FUZZ_CHECK(window % 4 == 0 && window >= extended_capabilities_start);
  VPCI_FUZZ_CHECK(window + mailbox::window_size <= extended_space_size);
  VPCI_FUZZ_CHECK(mailbox::window_size <= first_header.length);
  return 0;
}
