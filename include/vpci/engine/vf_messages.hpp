// The VF side of the Hyper-V binding as a sans-I/O state machine (freestanding: no heap, no I/O).
//
// The engine encodes READ_BLOCK / WRITE_BLOCK request frames (wire/framing.hpp), keeps the operations
// in flight in a bounded transaction table, and turns the PF's packets into events: an operation's
// completion, an invalidation, or a drop. Time is whatever the caller passes (`now_ns`, deadlines); the
// engine never reads a clock.
//
// Transaction IDs are (generation << 16) | slot. Each reuse of a slot bumps its generation, so a reply
// for an operation that already completed (timed out, cancelled, answered twice) never matches the
// operation that took its slot afterwards: it is dropped and counted, never trusted. Nothing a peer sends
// is used as a pointer or an index without that check.
//
// A slot is reused only after its completion was handed out (engine/vf_operation.hpp's operation_slot):
// every completion the engine returns leaves its slot taken until the caller says it reported it,
// release(handle). A caller that reports each completion as it gets it releases it at once; one that
// holds completions to report later (vf_message_channel) releases each as it hands it out. So the table
// bounds the operations started and not yet reported, and a completion still waiting to be reported can
// never be overtaken by a new operation in its slot.
//
// The engine keeps only spans to caller memory (a read's destination); the caller keeps that memory
// alive until the operation completes. Reads write into the destination only on success, and only as
// many bytes as the operation asked for.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include <vpci/block/block_buffer.hpp>
#include <vpci/block/endian.hpp>
#include <vpci/engine/earliest_deadline.hpp>
#include <vpci/engine/time_after.hpp>
#include <vpci/engine/vf_operation.hpp>
#include <vpci/protocol/block_id.hpp>
#include <vpci/protocol/errc.hpp>
#include <vpci/protocol/ntstatus.hpp>
#include <vpci/protocol/result.hpp>
#include <vpci/protocol/status_mapping.hpp>
#include <vpci/wire/framing.hpp>
#include <vpci/wire/hyperv.hpp>

namespace vpci::engine {

// Identifies one operation; its value is the transaction ID on the wire. Never 0.
struct vf_op_handle {
  std::uint64_t transaction_id{0};
  friend constexpr bool operator==(vf_op_handle, vf_op_handle) noexcept = default;
};

enum class vf_op_kind : std::uint8_t { read, write };

struct vf_completion {
  vf_op_handle handle{};
  vf_op_kind kind{vf_op_kind::read};
  errc error{no_error};   // no_error, or why the operation failed
  std::size_t bytes{0};   // bytes read into the destination or written; 0 on failure
  ntstatus peer_status{ntstatus::success};  // the PF's status when `error` is its answer (engine::completion)
};

// Why a packet was ignored.
enum class vf_drop_reason : std::uint8_t {
  none = 0,
  malformed,          // not a well-formed packet (descriptor, sizes, fields)
  unknown_id,         // a completion whose transaction ID is not an operation in flight (stale or never issued)
  unexpected_message, // well formed, but nothing a VF accepts (a request, another packet type)
  foreign_slot,       // an invalidation addressed to another function's wslot
};

enum class vf_event_kind : std::uint8_t { none = 0, completion, invalidated, dropped };

// One outcome of feeding the engine. Only the member named by `kind` is meaningful.
struct vf_event {
  vf_event_kind kind{vf_event_kind::none};
  vf_completion completion{};
  block_mask invalidated{};
  vf_drop_reason dropped{vf_drop_reason::none};

  constexpr explicit operator bool() const noexcept { return kind != vf_event_kind::none; }
};

// Saturating counters of what the engine saw.
struct vf_message_counters {
  std::uint64_t completed{0};               // operations completed by a reply (any status)
  std::uint64_t timed_out{0};
  std::uint64_t cancelled{0};
  std::uint64_t removed{0};
  std::uint64_t protocol_violations{0};     // replies for a live operation that break the protocol
  std::uint64_t invalidations{0};
  std::uint64_t dropped_malformed{0};
  std::uint64_t dropped_unknown_id{0};
  std::uint64_t dropped_unexpected{0};
  std::uint64_t dropped_foreign_slot{0};
};

struct vf_started {
  vf_op_handle handle{};
  std::size_t frame_size{0};  // bytes of frame_out to send
};

template <std::size_t MaxInFlight = 64>
class vf_message_engine {
  static_assert(MaxInFlight >= 1 && MaxInFlight <= 0x10000,
                "vf_message_engine: MaxInFlight must be 1..65536 (the slot is the low 16 bits of the transaction ID)");

 public:
  static constexpr std::size_t max_in_flight = MaxInFlight;

  // `slot` is this VF's wslot: written into every request, and the only one whose invalidations count.
  // An invalid wslot (device > 31, function > 7) makes every start_* fail with invalid_argument.
  constexpr explicit vf_message_engine(hyperv::wslot slot) noexcept : slot_(slot) {}

  // Starts a read of destination.size() bytes (1..128) of `block`: writes the request frame into
  // `frame_out` (>= hyperv::read_request_frame_size). Errors, with nothing started or written:
  // invalid_length, invalid_argument (wslot), buffer_too_small (frame_out), busy (every slot taken: by an
  // operation in flight or by a completion not yet released).
  [[nodiscard]] constexpr result<vf_started> start_read(block_id block, std::span<std::byte> destination,
                                                        std::uint64_t deadline_ns,
                                                        std::span<std::byte> frame_out) noexcept {
    if (!valid_block_length(destination.size())) return errc::invalid_length;
    const std::size_t slot = find_free_slot();
    if (slot == MaxInFlight) return errc::busy;
    const std::uint64_t id = transaction_id(slot, next_generation(slots_[slot].generation));
    const hyperv::read_request request{block, slot_, static_cast<std::uint32_t>(destination.size())};
    auto size = hyperv::encode_read_request_frame(id, request, frame_out);
    if (!size) return size.error();
    occupy(slot, vf_op_kind::read, destination, destination.size(), deadline_ns);
    return vf_started{vf_op_handle{id}, *size};
  }

  // Starts a write of `data` (1..128 bytes) to `block`; the bytes are copied into the frame at once,
  // so `data` need not outlive this call. The request is the Linux guest's (hv_write_config_block): the
  // data followed by 4 reserved zero bytes, which 2018-era hosts need and every host accepts; `linux_tail`
  // false leaves them out. Errors as start_read.
  [[nodiscard]] constexpr result<vf_started> start_write(block_id block, std::span<const std::byte> data,
                                                         std::uint64_t deadline_ns, std::span<std::byte> frame_out,
                                                         bool linux_tail = true) noexcept {
    if (!valid_block_length(data.size())) return errc::invalid_length;
    const std::size_t slot = find_free_slot();
    if (slot == MaxInFlight) return errc::busy;
    const std::uint64_t id = transaction_id(slot, next_generation(slots_[slot].generation));
    const hyperv::write_request request{block, slot_, data};
    auto size = hyperv::encode_write_request_frame(id, request, frame_out, linux_tail);
    if (!size) return size.error();
    occupy(slot, vf_op_kind::write, {}, data.size(), deadline_ns);
    return vf_started{vf_op_handle{id}, *size};
  }

  // One packet from the PF (a frame's content, without the length prefix): the whole packet, or the
  // first bytes of one of `packet_size` bytes (hyperv::frame_decoder keeps the first 168 of a longer one).
  constexpr vf_event on_packet(std::span<const std::byte> packet, std::size_t packet_size) noexcept {
    auto descriptor = hyperv::vmbus::decode_descriptor(packet, packet_size);
    if (!descriptor) return drop(vf_drop_reason::malformed);
    if (descriptor->type == hyperv::vmbus::packet_completion)
      return on_completion(descriptor->transaction_id, packet, packet_size);
    if (descriptor->type == hyperv::vmbus::packet_data_inband)
      return on_inband(packet, packet_size, hyperv::vmbus::payload_of(packet, *descriptor));
    return drop(vf_drop_reason::unexpected_message);
  }
  constexpr vf_event on_packet(std::span<const std::byte> packet) noexcept { return on_packet(packet, packet.size()); }

  // The next operation whose deadline is at or before `now_ns` (earliest deadline first, then the
  // earliest started), completed with errc::timeout; an empty event when none. Call until empty.
  constexpr vf_event expire(std::uint64_t now_ns) noexcept {
    if (deadlines_.nothing_due(now_ns)) return {};
    std::size_t found = MaxInFlight;
    for (std::size_t i = 0; i < MaxInFlight; ++i) {
      const op_slot& s = slots_[i];
      if (!s.life.pending() || s.deadline_ns > now_ns) continue;
      if (found == MaxInFlight || s.deadline_ns < slots_[found].deadline_ns ||
          (s.deadline_ns == slots_[found].deadline_ns && s.sequence < slots_[found].sequence))
        found = i;
    }
    if (found == MaxInFlight) return {};
    bump(counters_.timed_out);
    return finish(found, errc::timeout, 0);
  }

  // The earliest deadline in flight, or no_deadline.
  [[nodiscard]] constexpr std::uint64_t next_deadline() const noexcept {
    return deadlines_.earliest([this] {
      std::uint64_t earliest = no_deadline;
      for (const op_slot& s : slots_)
        if (s.life.pending() && s.deadline_ns < earliest) earliest = s.deadline_ns;
      return earliest;
    });
  }

  // Completes the operation with errc::cancelled (its slot is reusable once released, as for every
  // completion); a reply that still arrives for it is dropped as an unknown ID. An empty event when the
  // handle is not in flight.
  constexpr vf_event cancel(vf_op_handle handle) noexcept {
    const std::size_t slot = find(handle.transaction_id);
    if (slot == MaxInFlight) return {};
    bump(counters_.cancelled);
    return finish(slot, errc::cancelled, 0);
  }

  // VF removal or reset: completes every operation in flight with errc::vf_removed, in the order they
  // were started, calling `sink(const vf_completion&)` for each. Returns how many. Latched
  // invalidations stay latched (they still say which blocks changed). The engine stays usable; an
  // operation the sink itself starts is not part of this removal.
  template <class Sink>
  constexpr std::size_t remove(Sink&& sink) {
    return fail_all(errc::vf_removed, [&](const vf_completion& done) {
      bump(counters_.removed);
      sink(done);
    });
  }

  // Completes every operation in flight with `reason`, in the order they were started, calling
  // `sink(const vf_completion&)` for each; returns how many. For what ends every operation at once
  // besides removal (a failed protocol-version negotiation). The engine stays usable; an operation the
  // sink itself starts is not part of this.
  template <class Sink>
  constexpr std::size_t fail_all(errc reason, Sink&& sink) {
    const std::uint64_t started_before = next_sequence_;
    std::size_t count = 0;
    for (;;) {
      std::size_t oldest = MaxInFlight;
      for (std::size_t i = 0; i < MaxInFlight; ++i)
        if (slots_[i].life.pending() && slots_[i].sequence < started_before &&
            (oldest == MaxInFlight || slots_[i].sequence < slots_[oldest].sequence))
          oldest = i;
      if (oldest == MaxInFlight) return count;
      const vf_event event = finish(oldest, reason, 0);
      sink(event.completion);
      ++count;
    }
  }

  // The invalidations received since the last take, OR-coalesced; clears the latch.
  constexpr block_mask take_invalidations() noexcept {
    const block_mask mask = pending_invalidations_;
    pending_invalidations_ = block_mask{};
    return mask;
  }
  [[nodiscard]] constexpr block_mask pending_invalidations() const noexcept { return pending_invalidations_; }

  // The completion of `handle` was reported: its slot may take the next operation. Call it once for each
  // completion the engine returned (answer, expiry, cancel, removal, fail_all). False, changing nothing,
  // when `handle` names no completion awaiting its release (still in flight, released already, or stale).
  constexpr bool release(vf_op_handle handle) noexcept {
    const std::size_t slot = static_cast<std::size_t>(handle.transaction_id & 0xFFFF);
    if (slot >= MaxInFlight) return false;
    op_slot& s = slots_[slot];
    if (!s.life.awaiting_report() || transaction_id(slot, s.generation) != handle.transaction_id) return false;
    s.life.reported();
    --unreleased_count_;
    return true;
  }

  [[nodiscard]] constexpr bool in_flight(vf_op_handle handle) const noexcept {
    return find(handle.transaction_id) != MaxInFlight;
  }
  // Operations waiting for their answer.
  [[nodiscard]] constexpr std::size_t in_flight_count() const noexcept { return busy_count_; }
  // Slots taken: operations in flight and completions not yet released. MaxInFlight means start_* is busy.
  [[nodiscard]] constexpr std::size_t slots_in_use() const noexcept { return busy_count_ + unreleased_count_; }
  [[nodiscard]] constexpr const vf_message_counters& counters() const noexcept { return counters_; }
  [[nodiscard]] constexpr hyperv::wslot slot() const noexcept { return slot_; }

 private:
  struct op_slot {
    std::span<std::byte> destination{};
    std::uint64_t deadline_ns{0};
    std::uint64_t sequence{0};    // start order, for removal order and deadline ties
    std::uint64_t generation{0};  // of the current or last operation; 0 = never used
    std::size_t length{0};        // bytes requested (read) or sent (write)
    vf_op_kind kind{vf_op_kind::read};
    operation_slot life{};
  };

  // The generation fills the 48 bits above the slot; 0 is skipped so a transaction ID is never 0.
  static constexpr std::uint64_t generation_mask = (std::uint64_t{1} << 48) - 1;
  static constexpr std::uint64_t next_generation(std::uint64_t generation) noexcept {
    const std::uint64_t next = (generation + 1) & generation_mask;
    return next == 0 ? 1 : next;
  }
  static constexpr std::uint64_t transaction_id(std::size_t slot, std::uint64_t generation) noexcept {
    return (generation << 16) | static_cast<std::uint64_t>(slot);
  }
  static constexpr void bump(std::uint64_t& counter) noexcept {
    if (counter != ~std::uint64_t{0}) ++counter;
  }

  // Starts after the slot used last, so a freed slot rests before it is reused.
  constexpr std::size_t find_free_slot() const noexcept {
    if (slots_in_use() == MaxInFlight) return MaxInFlight;
    for (std::size_t n = 0; n < MaxInFlight; ++n) {
      const std::size_t i = (cursor_ + n) % MaxInFlight;
      if (slots_[i].life.reusable()) return i;
    }
    return MaxInFlight;
  }

  // The slot of a live operation with exactly this transaction ID, or MaxInFlight.
  constexpr std::size_t find(std::uint64_t id) const noexcept {
    const std::size_t slot = static_cast<std::size_t>(id & 0xFFFF);
    if (slot >= MaxInFlight) return MaxInFlight;
    const op_slot& s = slots_[slot];
    if (!s.life.pending() || transaction_id(slot, s.generation) != id) return MaxInFlight;
    return slot;
  }

  constexpr void occupy(std::size_t slot, vf_op_kind kind, std::span<std::byte> destination, std::size_t length,
                        std::uint64_t deadline_ns) noexcept {
    op_slot& s = slots_[slot];
    s.generation = next_generation(s.generation);
    s.destination = destination;
    s.deadline_ns = deadline_ns;
    s.sequence = next_sequence_++;
    s.length = length;
    s.kind = kind;
    s.life.start();
    ++busy_count_;
    deadlines_.started(deadline_ns);
    cursor_ = (slot + 1) % MaxInFlight;
  }

  // Ends the operation and returns its completion; the slot (keeping its generation) stays taken until
  // release().
  constexpr vf_event finish(std::size_t slot, errc error, std::size_t bytes,
                            ntstatus peer_status = ntstatus::success) noexcept {
    op_slot& s = slots_[slot];
    vf_event event{};
    event.kind = vf_event_kind::completion;
    event.completion = vf_completion{vf_op_handle{transaction_id(slot, s.generation)}, s.kind, error, bytes, peer_status};
    s.life.end();
    s.destination = {};
    --busy_count_;
    ++unreleased_count_;
    deadlines_.ended(s.deadline_ns, busy_count_);
    return event;
  }

  constexpr vf_event drop(vf_drop_reason reason) noexcept {
    switch (reason) {
      case vf_drop_reason::malformed: bump(counters_.dropped_malformed); break;
      case vf_drop_reason::unknown_id: bump(counters_.dropped_unknown_id); break;
      case vf_drop_reason::unexpected_message: bump(counters_.dropped_unexpected); break;
      case vf_drop_reason::foreign_slot: bump(counters_.dropped_foreign_slot); break;
      case vf_drop_reason::none: break;
    }
    vf_event event{};
    event.kind = vf_event_kind::dropped;
    event.dropped = reason;
    return event;
  }

  // A completion with any status but 0 fails its operation (block_completion_errc), nothing copied. The
  // PF's status goes with it only when it is an error or a warning: a success-class one (STATUS_PENDING)
  // handed on as the outcome would read as success to whoever tests NT_SUCCESS, and a failed
  // ReadVfConfigBlock or IOCTL would look done; the operation's own status (device_error's
  // STATUS_UNSUCCESSFUL) is reported instead.
  constexpr vf_event refused(std::size_t slot, ntstatus status) noexcept {
    return finish(slot, block_completion_errc(status), 0, nt_success(status) ? ntstatus::success : status);
  }

  // A reply whose descriptor is well formed and whose ID names a live operation answers that
  // operation: if its body breaks the protocol the operation fails with protocol_violation (waiting for
  // its deadline would only delay the same verdict).
  constexpr vf_event on_completion(std::uint64_t id, std::span<const std::byte> packet,
                                   std::size_t packet_size) noexcept {
    const std::size_t slot = find(id);
    if (slot == MaxInFlight) return drop(vf_drop_reason::unknown_id);
    op_slot& s = slots_[slot];
    if (s.kind == vf_op_kind::write) {
      auto reply = hyperv::decode_write_completion(packet, packet_size);
      if (!reply) return violation(slot);
      bump(counters_.completed);
      if (reply->status != ntstatus::success) return refused(slot, reply->status);
      return finish(slot, no_error, s.length);
    }
    auto reply = hyperv::decode_read_response(packet, packet_size);
    if (!reply) {
      if (reply.error() == errc::empty_response) {
        bump(counters_.completed);
        return finish(slot, errc::empty_response, 0);
      }
      return violation(slot);
    }
    bump(counters_.completed);
    if (reply->status != ntstatus::success) return refused(slot, reply->status);
    // VMBus pads the packet: what follows the status is the data plus up to 7 padding bytes, and a read
    // returns min(requested, present) of it (hv_pci_read_config_compl).
    const auto data = reply->data_for(s.length);
    if (data.empty()) return finish(slot, errc::empty_response, 0);
    le::copy(data, s.destination.data());
    return finish(slot, no_error, data.size());
  }

  constexpr vf_event violation(std::size_t slot) noexcept {
    bump(counters_.protocol_violations);
    return finish(slot, errc::protocol_violation, 0);
  }

  constexpr vf_event on_inband(std::span<const std::byte> packet, std::size_t packet_size,
                               std::span<const std::byte> payload) noexcept {
    auto type = hyperv::peek_message_type(payload);
    if (!type) return drop(type.error() == errc::unknown_message_type ? vf_drop_reason::unexpected_message
                                                                      : vf_drop_reason::malformed);
    if (*type != hyperv::message_type::invalidate_block) return drop(vf_drop_reason::unexpected_message);
    auto message = hyperv::decode_invalidate(packet, packet_size);
    if (!message) return drop(vf_drop_reason::malformed);
    if (!(message->slot == slot_)) return drop(vf_drop_reason::foreign_slot);
    pending_invalidations_ |= message->mask;
    bump(counters_.invalidations);
    vf_event event{};
    event.kind = vf_event_kind::invalidated;
    event.invalidated = message->mask;
    return event;
  }

  std::array<op_slot, MaxInFlight> slots_{};
  vf_message_counters counters_{};
  block_mask pending_invalidations_{};
  std::uint64_t next_sequence_{0};
  earliest_deadline deadlines_{};  // of the operations in flight
  std::size_t busy_count_{0};        // operations in flight
  std::size_t unreleased_count_{0};  // completions returned and not yet released
  std::size_t cursor_{0};
  hyperv::wslot slot_{};
};

}  // namespace vpci::engine
