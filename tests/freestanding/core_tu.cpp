// Compiled with exactly -std=c++20 -ffreestanding -fno-exceptions -fno-rtti (host and Cortex-M4):
// proves the core builds for firmware, and exercises enough of it that the object file shows what
// it would need from a runtime (check_freestanding.sh rejects heap, exception and I/O symbols).
#include <vpci/core.hpp>

#if defined(BOOST_VERSION) || defined(_GLIBCXX_STRING) || defined(_GLIBCXX_VECTOR) || defined(_GLIBCXX_MEMORY) || \
    defined(_GLIBCXX_IOSTREAM) || defined(_GLIBCXX_SYSTEM_ERROR) || defined(_GLIBCXX_FUNCTIONAL)
#error "vpci/core.hpp pulled in a hosted header (Boost, <string>, <vector>, <memory>, <iostream>, <system_error> or <functional>)"
#endif

namespace {
struct vf_config {
  std::uint16_t version;
  std::uint16_t flags;
  std::uint32_t mtu;
  friend constexpr auto vpci_fields(vpci::type_tag<vf_config>) {
    return vpci::fields(&vf_config::version, &vf_config::flags, &vf_config::mtu);
  }
};
using vf_config_block = vpci::block<1, vf_config>;
static_assert(vf_config_block::size == 8);
}  // namespace

extern "C" int vpci_freestanding_probe(const std::byte* in, unsigned length, std::byte* out) {
  const std::span<const std::byte> bytes{in, length};
  int score = 0;
  if (auto r = vpci::hyperv::decode_read_response(bytes)) score += static_cast<int>(r->data.size());
  if (auto w = vpci::hyperv::decode_write_request(bytes)) score += static_cast<int>(w->data.size());
  if (auto i = vpci::hyperv::decode_invalidate(bytes)) score += i->mask.count();
  if (auto c = vf_config_block::decode(bytes.first(length < 8 ? length : 8))) score += c->version;
  vpci::hyperv::read_request request{vpci::block_id{3}, {2, 1}, 16};
  if (auto n = vpci::hyperv::encode(request, {out, 16})) score += static_cast<int>(*n);
  vpci::block_buffer<16> buffer;
  if (buffer.assign(bytes.first(length < 16 ? length : 16)) == vpci::no_error) score += static_cast<int>(buffer.size());
  return score + static_cast<int>(vpci::to_ntstatus(vpci::errc::timeout) == vpci::ntstatus::io_timeout);
}

// The engines and the config-space model, as firmware would run them from a doorbell handler.
namespace {
vpci::engine::static_pf_blocks<4, 32, 512> store;  // firmware sizes its store: no heap here
vpci::engine::pf_mailbox_session<4> mailbox_session{store, 0};
vpci::engine::pf_message_session<4> message_session{store, 1, {2, 1}};
vpci::engine::vf_mailbox_engine<4> vf_mailbox;
vpci::engine::vf_message_engine<8> vf_messages{{2, 1}};
}  // namespace

extern "C" int vpci_freestanding_engines(std::byte* window, unsigned window_length, std::byte* config_space,
                                         unsigned config_length, std::uint64_t now) {
  int score = 0;
  (void)store.register_vf(0, 0x0101);
  (void)store.define<vf_config_block>(0, vf_config{1, 0, 1500});
  if (!mailbox_session.initialized())
    for (const auto& w : mailbox_session.initialize({window, window_length}, now)) score += static_cast<int>(w.bytes.size());
  for (const auto& w : mailbox_session.service({window, window_length}, now)) score += static_cast<int>(w.bytes.size());
  for (const auto& w : mailbox_session.tick(now)) score += static_cast<int>(w.bytes.size());
  std::byte destination[8]{};
  if (auto handle = vf_mailbox.start_read(vf_config_block::id, destination, now + 1000)) score += handle->slot;
  const auto action = vf_mailbox.step(now);
  score += static_cast<int>(action.what);
  std::byte frame[vpci::hyperv::max_frame_size]{};
  if (auto started = vf_messages.start_read(vpci::block_id{1}, destination, now + 1000, frame)) score += static_cast<int>(started->frame_size);
  std::byte response[vpci::hyperv::max_response_frame_size]{};
  if (auto reply = message_session.on_packet({frame + 4, 32}, response)) score += static_cast<int>(reply->size);
  // Each completion handed out is released once reported, or its slot stays taken (engine/vf_messages.hpp).
  if (const auto event = vf_messages.on_packet({response + 4, 20}); event.kind == vpci::engine::vf_event_kind::completion)
    score += static_cast<int>(vf_messages.release(event.completion.handle));
  const std::span<std::byte> space{config_space, config_length};
  if (auto header = vpci::config::decode_header(space)) score += header->vendor_id;
  (void)vpci::config::for_each_extended_capability(space, [&](const vpci::config::extended_capability& c) { score += c.id; });
  if (auto placed = vpci::config::place_dvsec(space, {0x8086, vpci::mailbox::default_dvsec_id, vpci::mailbox::dvsec_revision,
                                                       static_cast<std::uint16_t>(vpci::mailbox::window_size)}))
    score += *placed;
  if (auto found = vpci::config::find_mailbox(space)) score += static_cast<int>(*found);
  if (auto sriov = vpci::config::find_sriov(space)) score += sriov->total_vfs;
  return score;
}
