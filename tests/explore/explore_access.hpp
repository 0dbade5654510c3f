// The explorer's view of the engines' private state (the engines name this struct a friend and nothing
// else about it): a canonical hash of everything that decides an engine's future behaviour, the save and
// restore of the PF store (which refers to its storage and so cannot be copied), and the hooks the
// planted-bug tests use to break a PF on purpose. Diagnostic counters are left out of the hashes: two
// states that differ only in how many late replies or retries were counted behave the same.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include <vpci/engine/pf_blocks.hpp>
#include <vpci/engine/pf_mailbox.hpp>
#include <vpci/engine/vf_mailbox.hpp>
#include <vpci/wire/mailbox.hpp>

#include "explore_search.hpp"

namespace vpci::engine {

struct explore_access {
  // ---- the VF mailbox engine ----
  template <std::size_t N>
  static void hash(explore::hasher& h, const vf_mailbox_engine<N>& e) {
    for (const auto& o : e.ops_) {
      h.value(o.life.pending());
      h.value(o.life.awaiting_report());
      h.value(o.kind);
      h.value(o.generation);
      h.value(o.id.value());
      h.value(reinterpret_cast<std::uintptr_t>(o.destination.data()));
      h.value(o.destination.size());
      h.value(o.data.size());
      h.bytes(o.data.data(), o.data.size());
      h.value(o.deadline);
    }
    h.value(e.pending_count_);
    for (std::size_t i = 0; i < e.pending_count_; ++i) h.value(e.pending_[i]);
    h.value(e.ready_count_);
    for (std::size_t i = 0; i < e.ready_count_; ++i) {
      const auto& c = e.ready_[(e.ready_head_ + i) % e.ready_.size()];
      h.value(c.handle.slot);
      h.value(c.handle.generation);
      h.value(c.error);
      h.value(c.bytes);
      h.value(c.transport_failure);
    }
    h.value(e.active_);
    h.value(e.wire_owner_);
    h.value(e.state_);
    h.value(e.after_invalidations_);
    const std::uint16_t flags = static_cast<std::uint16_t>(
        e.in_flight_ | e.discard_report_ << 1 | e.on_wire_ << 2 | e.woken_ << 3 | e.watching_ << 4 | e.signal_ << 5 |
        e.silent_ << 6 | e.block_known_ << 7 | e.reading_invalidations_due_ << 8);
    h.value(flags);
    h.value(e.block_in_window_);
    h.value(e.block_writing_);
    h.value(e.orphan_since_);
    h.value(e.wake_at_);
    h.value(e.reset_deadline_);
    h.value(e.first_fruitless_at_);
    h.value(e.orphan_waited_for_);
    h.value(e.next_look_at_);
    h.value(e.looks_.upcoming());
    h.value(e.polls_.upcoming());
    h.value(e.heartbeat_interval_ns_);
    h.value(e.heartbeat_seen_at_);
    h.value(e.heartbeat_);
    h.value(e.epoch_);
    h.value(e.expected_read_);
    h.value(e.sequence_);
    h.value(mailbox::encode_status(e.answer_));
    h.value(e.answer_word_);
    h.value(e.torn_retries_);
    h.value(e.invalidations_.bits());
    h.value(e.data_.size());
    h.bytes(e.data_.data(), e.data_.size());
    h.bytes(e.request_bytes_.data(), 4);
    h.bytes(e.block_bytes_.data(), 4);
    h.bytes(e.ack_bytes_.data(), 8);
    h.bytes(e.control_bytes_.data(), 4);
  }

  // ---- the PF mailbox session (the write list, event and scratch are per call: not state) ----
  template <std::size_t V>
  static void hash(explore::hasher& h, const pf_mailbox_session<V>& s) {
    h.value(mailbox::encode_status(s.status_));
    h.value(s.result_);
    h.value(s.latched_.bits());
    h.value(s.reraised_.bits());
    h.value(s.next_beat_);
    h.value(s.last_sequence_);
    h.value(static_cast<std::uint8_t>(s.synchronised_ | s.initialized_ << 1 | s.signal_requested_ << 2));
    h.bytes(s.owned_.data(), s.owned_.size());
  }
  // A broken PF for the planted-bug tests: forgets its latch (as if the VF had acknowledged everything).
  template <std::size_t V>
  static void forget_latch(pf_mailbox_session<V>& s) {
    s.latched_ = block_mask{};
    s.reraised_ = block_mask{};
  }

  // ---- the PF store: its per-VF state and its arena ----
  template <std::size_t V, std::size_t Bytes>
  struct store_image {
    std::array<typename pf_blocks<V>::vf_state, V> vfs{};
    std::array<std::byte, Bytes> arena{};
  };
  template <std::size_t V, std::size_t Bytes>
  static void save(const pf_blocks<V>& store, store_image<V, Bytes>& image) {
    image.vfs = store.vfs_;
    for (std::size_t i = 0; i < Bytes; ++i) image.arena[i] = store.arena_[i];
  }
  template <std::size_t V, std::size_t Bytes>
  static void load(const store_image<V, Bytes>& image, pf_blocks<V>& store) {
    store.vfs_ = image.vfs;
    for (std::size_t i = 0; i < Bytes; ++i) store.arena_[i] = image.arena[i];
  }
  template <std::size_t V, std::size_t Bytes>
  static void hash(explore::hasher& h, const store_image<V, Bytes>& image) {
    for (const auto& v : image.vfs) {
      h.value(v.pending_invalidations.bits());
      h.value(v.in_flight);
      h.value(v.quarantine);
      h.value(v.registered);
    }
    h.bytes(image.arena.data(), Bytes);
  }
};

}  // namespace vpci::engine
