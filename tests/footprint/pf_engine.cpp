// The PF engine as firmware on a Cortex-M4 runs it, linked into an image whose size the footprint ctest
// measures (check_footprint.sh): the block store for 4 VFs x 8 blocks with 300 bytes of contents in all,
// and one config-space mailbox session per VF. One entry point, the firmware's command dispatcher, reaches
// every path: VF enable (register, sessions initialised), the IHV's block table (raw and typed blocks, a
// computed block with a handler), a doorbell (the session serves reads, writes, resets, invalidation
// acknowledgements, violations), the PF's own updates with invalidation, FLR and VF disable. Everything
// it is given comes from outside (arguments and memory the platform passes), so nothing folds away.
#include <new>

#include <vpci/engine/pf_blocks.hpp>
#include <vpci/engine/pf_mailbox.hpp>

namespace {

constexpr std::size_t vf_count = 4;
constexpr std::size_t block_count = vf_count * 8;
constexpr std::size_t content_bytes = 300;
// The arena: the contents, and the handler pointer of the one computed block.
constexpr std::size_t arena_bytes = content_bytes + sizeof(vpci::engine::block_handler*);
using session = vpci::engine::pf_mailbox_session<vf_count>;

struct link_state {
  std::uint16_t state;
  std::uint16_t speed;
  std::uint32_t mtu;
  friend constexpr auto vpci_fields(vpci::type_tag<link_state>) {
    return vpci::fields(&link_state::state, &link_state::speed, &link_state::mtu);
  }
};
using link_block = vpci::block<2, link_state>;

// A computed block: the firmware answers it from hardware state instead of stored bytes.
class counter_block final : public vpci::engine::block_handler {
 public:
  vpci::ntstatus on_read(vpci::engine::vf_index vf, vpci::block_id, std::span<std::byte> out,
                         std::size_t& bytes) override {
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::byte>(ticks_ + vf + i);
    bytes = out.size();
    return vpci::ntstatus::success;
  }
  vpci::ntstatus on_write(vpci::engine::vf_index, vpci::block_id, std::span<const std::byte> data) override {
    ticks_ = static_cast<std::uint32_t>(data[0]);
    return vpci::ntstatus::success;
  }

 private:
  std::uint32_t ticks_{0};
};

vpci::engine::static_pf_blocks<vf_count, block_count, arena_bytes> store;
counter_block counter;

// A session exists once the host enables its VF (NumVFs): made then, in storage reserved here (.bss).
union session_slot {
  session_slot() noexcept {}
  session value;
};
session_slot sessions[vf_count];

// The platform maps each VF's mailbox window; the writes the session returns go there in order. (Only
// the session's constructor, initialize() and service() are named here, so the measurement follows the
// session as it changes.)
template <class Writes>
std::size_t apply(const Writes& writes, std::byte* window) {
  std::size_t count = 0;
  for (const auto& write : writes) {
    for (std::size_t i = 0; i < write.bytes.size(); ++i) window[write.offset + i] = write.bytes[i];
    ++count;
  }
  return count;
}

}  // namespace

enum command : unsigned { enable_vf, define_raw, define_typed, define_computed, doorbell, update, flr, disable_vf,
                          invalidate_all };

// The firmware's command dispatcher: `window` is VF `vf`'s mapped mailbox window (doorbell, enable,
// FLR) or the bytes of a block (define_raw, update).
extern "C" int vpci_pf_dispatch(unsigned what, unsigned vf, std::uint32_t id, std::byte* window, unsigned length) {
  const auto index = static_cast<vpci::engine::vf_index>(vf);
  if (vf >= vf_count) return -1;
  switch (what) {
    case enable_vf:
      if (store.register_vf(index, static_cast<std::uint16_t>(0x0100 + vf)) != vpci::no_error) return -1;
      ::new (&sessions[vf].value) session(store, index);
      apply(sessions[vf].value.initialize({window, vpci::mailbox::window_size}), window);
      return 0;
    case define_raw:
      return static_cast<int>(store.define_block(index, vpci::block_id{id}, {window, length},
                                                 static_cast<vpci::engine::block_access>(id >> 30)));
    case define_typed:
      return static_cast<int>(store.define<link_block>(index, link_state{1, 3, length}));
    case define_computed:
      return static_cast<int>(store.define_block(index, vpci::block_id{id}, {window, length},
                                                 vpci::engine::block_access::read_write, &counter));
    case doorbell:
      return static_cast<int>(apply(sessions[vf].value.service({window, vpci::mailbox::window_size}), window));
    case update:
      if (const auto e = store.store(index, vpci::block_id{id}, {window, length}); e != vpci::no_error)
        return static_cast<int>(e);
      return static_cast<int>(store.invalidate(index, vpci::block_id{id}));
    case flr:
      (void)store.reset_vf(index);
      apply(sessions[vf].value.initialize({window, vpci::mailbox::window_size}, 0, /*function_reset=*/true), window);
      return 0;
    case disable_vf:
      return static_cast<int>(store.unregister_vf(index));
    case invalidate_all:
      store.invalidate_all(vpci::block_mask{id});
      return 0;
    default:
      return -1;
  }
}
