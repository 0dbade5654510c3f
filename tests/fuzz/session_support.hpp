// Shared by the PF session fuzz targets (pf_mailbox_session, pf_message_session): a block store with two
// VFs whose blocks the input defines, a model of what those blocks hold, and the store's verdict on a
// request restated independently of pf_blocks (its documented Windows semantics), so a target can check
// every answer and that nothing but a served write changes a block.
//
// VF 0 is the VF the input drives; VF 1 owns blocks under some of the same IDs, holding a marker pattern
// that nothing may change or hand to VF 0. Block IDs come from a small table (dense, sparse, invalidatable
// and not) so that requests hit defined blocks often; a request may also name any 32-bit ID.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <map>
#include <span>
#include <vector>

#include <vpci/engine/pf_blocks.hpp>

#include "fuzz_support.hpp"

namespace vpci::fuzz {

inline constexpr std::array<std::uint32_t, 8> block_ids{0, 1, 7, 63, 64, 0x100, 0x7FFFFFFF, 0xFFFFFFFF};

// An ID from the table (high bit clear) or any 32-bit value.
inline std::uint32_t pick_block_id(input_reader& in) {
  const std::uint8_t sel = in.u8();
  if ((sel & 0x80) == 0) return block_ids[sel % block_ids.size()];
  return in.u32();
}

inline constexpr std::array<ntstatus, 5> handler_statuses{ntstatus::success, ntstatus::pending, ntstatus::unsuccessful,
                                                          ntstatus::access_denied, ntstatus::bad_data};

// An IHV handler whose answers the input scripts. Checks it is only ever called for VF 0 (the only VF the
// input drives) and handed exactly the block's size.
class scripted_handler final : public engine::block_handler {
 public:
  ntstatus read_status{ntstatus::success};
  ntstatus write_status{ntstatus::success};
  std::size_t produce{0};  // bytes on_read claims (may exceed the block: the store must clamp)
  std::byte fill{0x5A};
  std::size_t size{0};     // the block's size
  std::vector<std::byte> last_write{};

  ntstatus on_read(engine::vf_index vf, block_id, std::span<std::byte> out, std::size_t& bytes) override {
    VPCI_FUZZ_CHECK(vf == 0);
    VPCI_FUZZ_CHECK(out.size() == size);
    for (std::size_t i = 0; i < out.size() && i < produce; ++i) out[i] = static_cast<std::byte>(static_cast<unsigned>(fill) + i);
    bytes = produce;
    return read_status;
  }
  ntstatus on_write(engine::vf_index vf, block_id, std::span<const std::byte> data) override {
    VPCI_FUZZ_CHECK(vf == 0);
    VPCI_FUZZ_CHECK(data.size() == size);
    if (write_status == ntstatus::success) last_write.assign(data.begin(), data.end());
    return write_status;
  }
};

struct model_block {
  std::vector<std::byte> contents;  // stored blocks: what the store must hold
  engine::block_access access{engine::block_access::read_write};
  scripted_handler* handler{nullptr};
};

// What the store must answer; `data` is a successful read's bytes (the block's, or the handler's).
struct verdict {
  ntstatus status{ntstatus::success};
  std::size_t bytes{0};
  std::array<std::byte, max_block_size> data{};
};

inline constexpr std::byte vf1_marker{0xEE};

class session_fixture {
 public:
  static constexpr std::size_t max_vfs = 2;

  explicit session_fixture(engine::pf_limits limits = {}) : store_(slots_, arena_, limits) {
    VPCI_FUZZ_CHECK(store_.register_vf(0, 0x10) == no_error);
    VPCI_FUZZ_CHECK(store_.register_vf(1, 0x11) == no_error);
  }
  session_fixture(const session_fixture&) = delete;
  session_fixture& operator=(const session_fixture&) = delete;

  // Setup from the input: up to 6 blocks of VF 0 (ID, size, access, stored or handled, contents), up to 4
  // of VF 1 (ID, size; marker contents).
  void define_blocks(input_reader& in) {
    const std::size_t own = 1 + in.u8() % 6;
    for (std::size_t i = 0; i < own; ++i) {
      const std::uint32_t id = pick_block_id(in);
      const std::size_t size = 1 + in.u8() % max_block_size;
      const std::uint8_t mode = in.u8();
      const auto access = static_cast<engine::block_access>(1 + mode % 3);
      std::vector<std::byte> contents(size);
      const auto given = in.take(size);
      for (std::size_t k = 0; k < size; ++k) contents[k] = k < given.size() ? given[k] : static_cast<std::byte>(k * 7 + i);
      scripted_handler* handler = nullptr;
      if ((mode & 0x10) != 0 && handler_count_ < handlers_.size()) {  // each handler serves one block
        handler = &handlers_[handler_count_++];
        handler->size = size;
        const std::uint8_t script = in.u8();
        handler->read_status = handler_statuses[script % handler_statuses.size()];
        handler->write_status = handler_statuses[(script >> 3) % handler_statuses.size()];
        handler->produce = in.u8() % (size + 4);
        handler->fill = std::byte{in.u8()};
        handler->last_write.clear();
      }
      if (store_.define_block(0, block_id{id}, contents, access, handler) != no_error) continue;
      model_block& b = own_[id];
      b.contents = std::move(contents);
      b.access = access;
      b.handler = handler;
    }
    const std::size_t other = in.u8() % 5;
    for (std::size_t i = 0; i < other; ++i) {
      const std::uint32_t id = pick_block_id(in);
      const std::size_t size = 1 + in.u8() % max_block_size;
      const std::vector<std::byte> contents(size, vf1_marker);
      if (store_.define_block(1, block_id{id}, contents) == no_error) vf1_[id] = size;
    }
  }

  // The PF removes VF 0 and registers it again at the same index, defining the blocks the model holds
  // (their current contents, access and handlers): a new VF to the store.
  void remove_and_register_vf0() {
    VPCI_FUZZ_CHECK(store_.unregister_vf(0) == no_error);
    VPCI_FUZZ_CHECK(store_.register_vf(0, 0x10) == no_error);
    for (const auto& [id, b] : own_)
      VPCI_FUZZ_CHECK(store_.define_block(0, block_id{id}, b.contents, b.access, b.handler) == no_error);
  }

  [[nodiscard]] engine::pf_blocks<max_vfs>& store() noexcept { return store_; }
  [[nodiscard]] const engine::pf_blocks<max_vfs>& store() const noexcept { return store_; }
  [[nodiscard]] const std::map<std::uint32_t, model_block>& own_blocks() const noexcept { return own_; }
  [[nodiscard]] bool vf1_defines(std::uint32_t id) const { return vf1_.count(id) != 0; }

  // The store's verdict on VF 0's read of `requested` bytes of `id` (pf_blocks::serve_read's contract).
  [[nodiscard]] verdict expect_read(std::uint32_t id, std::size_t requested) const {
    verdict v;
    if (store_.quarantined(0) != engine::quarantine_reason::none) return refused(ntstatus::access_denied);
    if (requested == 0 || requested > max_block_size) return refused(ntstatus::invalid_parameter);
    const auto it = own_.find(id);
    if (it == own_.end()) return refused(vf1_defines(id) ? ntstatus::access_denied : ntstatus::invalid_parameter);
    const model_block& b = it->second;
    if ((static_cast<unsigned>(b.access) & 1u) == 0) return refused(ntstatus::access_denied);
    const std::size_t size = b.handler != nullptr ? b.handler->size : b.contents.size();
    if (requested < size) return refused(ntstatus::buffer_too_small);
    if (b.handler == nullptr) {
      v.bytes = size;
      for (std::size_t i = 0; i < size; ++i) v.data[i] = b.contents[i];
      return v;
    }
    const scripted_handler& h = *b.handler;
    if (h.read_status != ntstatus::success) return refused(h.read_status);
    if (h.produce == 0) return refused(ntstatus::unsuccessful);
    v.bytes = h.produce < size ? h.produce : size;
    for (std::size_t i = 0; i < v.bytes; ++i) v.data[i] = static_cast<std::byte>(static_cast<unsigned>(h.fill) + i);
    return v;
  }

  // The store's verdict on VF 0's write of `length` bytes to `id` (serve_write's contract).
  [[nodiscard]] verdict expect_write(std::uint32_t id, std::size_t length) const {
    if (store_.quarantined(0) != engine::quarantine_reason::none) return refused(ntstatus::access_denied);
    if (length == 0 || length > max_block_size) return refused(ntstatus::invalid_parameter);
    const auto it = own_.find(id);
    if (it == own_.end()) return refused(vf1_defines(id) ? ntstatus::access_denied : ntstatus::invalid_parameter);
    const model_block& b = it->second;
    if ((static_cast<unsigned>(b.access) & 2u) == 0) return refused(ntstatus::access_denied);
    const std::size_t size = b.handler != nullptr ? b.handler->size : b.contents.size();
    if (length != size) return refused(ntstatus::invalid_parameter);
    if (b.handler != nullptr && b.handler->write_status != ntstatus::success) return refused(b.handler->write_status);
    verdict v;
    v.bytes = length;
    return v;
  }

  // A served write the session reported as successful: the model takes the bytes.
  void written(std::uint32_t id, std::span<const std::byte> data) {
    model_block& b = own_.at(id);
    if (b.handler != nullptr) {
      VPCI_FUZZ_CHECK(equal(b.handler->last_write, data));
      return;
    }
    b.contents.assign(data.begin(), data.end());
  }

  // The PF's own update of a stored block of VF 0 (pf_blocks::store), bytes from the input.
  void pf_update(input_reader& in) {
    if (own_.empty()) return;
    auto it = own_.begin();
    std::advance(it, static_cast<std::ptrdiff_t>(in.u8() % own_.size()));
    model_block& b = it->second;
    const std::size_t size = b.handler != nullptr ? b.handler->size : b.contents.size();
    std::vector<std::byte> bytes(size);
    const auto given = in.take(size);
    for (std::size_t k = 0; k < size; ++k) bytes[k] = k < given.size() ? given[k] : std::byte{0x3C};
    VPCI_FUZZ_CHECK(store_.store(0, block_id{it->first}, bytes) == no_error);
    if (b.handler == nullptr) b.contents = std::move(bytes);
  }

  // Every block holds what the model says: VF 0's stored blocks their contents, VF 1's the marker. So a
  // refused request changed nothing, a served write changed exactly its block, and nothing of VF 0's
  // reached VF 1's blocks.
  void check_blocks() const {
    VPCI_FUZZ_CHECK(store_.blocks_defined() == own_.size() + vf1_.size());
    for (const auto& [id, b] : own_) {
      const auto held = store_.contents(0, block_id{id});
      if (b.handler == nullptr) VPCI_FUZZ_CHECK(equal(held, b.contents));
      else VPCI_FUZZ_CHECK(held.size() == b.handler->size);
    }
    for (const auto& [id, size] : vf1_) {
      const auto held = store_.contents(1, block_id{id});
      VPCI_FUZZ_CHECK(held.size() == size);
      for (std::byte x : held) VPCI_FUZZ_CHECK(x == vf1_marker);
    }
    // VF 1 is never driven: nothing VF 0 does quarantines it or counts against it.
    VPCI_FUZZ_CHECK(store_.quarantined(1) == engine::quarantine_reason::none);
    const engine::vf_counters c = store_.counters(1);
    VPCI_FUZZ_CHECK(c.reads == 0 && c.writes == 0 && c.refused == 0 && c.violations == 0);
    VPCI_FUZZ_CHECK(store_.in_flight(1) == 0);
  }

 private:
  // A refusal's status; a handler's that a VF would read as success (STATUS_PENDING) is answered
  // STATUS_UNSUCCESSFUL (engine::block_handler's contract).
  static verdict refused(ntstatus status) {
    verdict v;
    v.status = nt_success(status) ? ntstatus::unsuccessful : status;
    return v;
  }

  std::array<engine::pf_block_slot, 16> slots_{};
  std::array<std::byte, 2048> arena_{};
  engine::pf_blocks<max_vfs> store_;
  std::array<scripted_handler, 4> handlers_{};
  std::size_t handler_count_{0};
  std::map<std::uint32_t, model_block> own_{};
  std::map<std::uint32_t, std::size_t> vf1_{};
};

}  // namespace vpci::fuzz
