// What a PF's firmware calls on its own stack, compiled for a Cortex-M4 at -Os so that check_stack.sh can
// add up the frames (-fstack-usage): placing, finding and removing the mailbox's DVSEC in the function's
// config space, and the mailbox session's initialisation and service with the block store behind it.
// Each entry point takes everything from outside, so nothing folds away.
#include <vpci/config/find_mailbox.hpp>
#include <vpci/config/placement.hpp>
#include <vpci/engine/pf_blocks.hpp>
#include <vpci/engine/pf_mailbox.hpp>

namespace {
using store_type = vpci::engine::pf_blocks<4>;
using session = vpci::engine::pf_mailbox_session<4>;
}  // namespace

extern "C" int vpci_fw_place(std::byte* space, unsigned size) {
  const auto offset = vpci::config::place_dvsec({space, size}, {0x1AF4, 0x5650, 2, 0xB8});
  return offset ? *offset : -1;
}

extern "C" int vpci_fw_free(std::byte* space, unsigned size, std::uint16_t offset) {
  return static_cast<int>(vpci::config::free_dvsec({space, size}, offset));
}

extern "C" int vpci_fw_find(const std::byte* space, unsigned size) {
  const auto offset = vpci::config::find_mailbox({space, size});
  return offset ? static_cast<int>(*offset) : -1;
}

extern "C" unsigned vpci_fw_initialize(session* s, const std::byte* window, std::uint64_t now) {
  return static_cast<unsigned>(s->initialize({window, vpci::mailbox::window_size}, now).size());
}

extern "C" unsigned vpci_fw_service(session* s, const std::byte* window, std::uint64_t now) {
  return static_cast<unsigned>(s->service({window, vpci::mailbox::window_size}, now).size());
}

extern "C" unsigned vpci_fw_tick(session* s, std::uint64_t now) { return static_cast<unsigned>(s->tick(now).size()); }

extern "C" int vpci_fw_define(store_type* store, unsigned vf, std::uint32_t id, const std::byte* bytes, unsigned length) {
  return static_cast<int>(store->define_block(static_cast<vpci::engine::vf_index>(vf), vpci::block_id{id}, {bytes, length}));
}
