// The VF side of the Hyper-V binding over a byte stream, sans-I/O (freestanding: no heap, no I/O):
// vf_message_engine's transaction table plus what a stream needs around it, so that the VF endpoint core
// drives binding 2 exactly as it drives binding 1 (step / report, engine/vf_operation.hpp):
// - the send queue: each request frame waits in its operation's slot until step() hands the unsent
//   frames, in start order, to the binding as one `send` action; on_sent() reports that the stream took
//   them. A request cancelled before its frame was handed over is never sent.
// - the receive side: on_received() takes whatever the stream delivered, in any chunking, through the
//   frame decoder; a framing error is a protocol violation the channel reports once (the binding
//   closes the stream), after which it accepts nothing more.
// - the rules: a write may be cancelled without effects only while its frame was not handed to the
//   stream; completions are reported by step() in the order they happened, and an operation's slot takes
//   no new operation until its completion has been handed out (step(), next_completion()) or taken by the
//   caller's own cancel(): MaxInFlight bounds the operations started and not yet reported.
// - version negotiation (engine/vf_negotiation.hpp, on unless turned off): the first step() sends
//   QUERY_PROTOCOL_VERSION, and block request frames wait in their slots until a version is agreed;
//   operations started meanwhile wait there, their deadlines running. If negotiation fails, every pending
//   operation completes with its error (revision_mismatch when every version was refused, timeout when
//   no answer came, the PF's status otherwise) and every later start fails at once with it.
// - a completion whose ID names an operation whose frame was not yet sent cannot answer it (the PF never
//   saw the request): it is dropped, and the request is still sent.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include <vpci/block/endian.hpp>
#include <vpci/engine/vf_messages.hpp>
#include <vpci/engine/vf_negotiation.hpp>
#include <vpci/engine/vf_operation.hpp>
#include <vpci/protocol/errc.hpp>
#include <vpci/protocol/result.hpp>
#include <vpci/wire/framing.hpp>

namespace vpci::engine {

template <std::size_t MaxInFlight = 64>
class vf_message_channel {
 public:
  using handle_type = vf_op_handle;
  using message_action = action<vf_op_handle>;
  using message_completion = completion<vf_op_handle>;
  static constexpr std::size_t max_operations = MaxInFlight;
  // The largest single send: every operation's frame at once.
  static constexpr std::size_t max_send_size = MaxInFlight * hyperv::max_frame_size;
  [[nodiscard]] static constexpr std::size_t slot_of(vf_op_handle handle) noexcept {
    return static_cast<std::size_t>(handle.transaction_id & 0xFFFF);
  }

  // `slot` is this VF's wslot: written into every request, and the only one whose invalidations count.
  constexpr explicit vf_message_channel(hyperv::wslot slot, vf_negotiation_options negotiation = {}) noexcept
      : engine_(slot), negotiation_(negotiation) {}

  // --- operations ---------------------------------------------------------------------------------
  // Starts a read of destination.size() bytes (1..128) of `block`; its frame waits for the next send.
  // Errors, with nothing started: invalid_length, invalid_argument (wslot), busy (MaxInFlight operations
  // started and not yet reported: in flight, or completed with the completion still to be handed out),
  // the errors of a dead channel (see receive_error()) and of a failed negotiation (negotiation().error()).
  [[nodiscard]] constexpr result<vf_op_handle> start_read(block_id block, std::span<std::byte> destination,
                                                          std::uint64_t deadline) noexcept {
    if (const errc dead = refusal(); dead != no_error) return dead;
    std::array<std::byte, hyperv::max_frame_size> frame{};
    auto started = engine_.start_read(block, destination, deadline, frame);
    if (!started) return started.error();
    queue(started->handle, operation_kind::read, std::span<const std::byte>(frame).first(started->frame_size));
    return started->handle;
  }
  // Starts a write of `data` (1..128 bytes, encoded into the frame now). Errors as start_read.
  [[nodiscard]] constexpr result<vf_op_handle> start_write(block_id block, std::span<const std::byte> data,
                                                           std::uint64_t deadline) noexcept {
    if (const errc dead = refusal(); dead != no_error) return dead;
    std::array<std::byte, hyperv::max_frame_size> frame{};
    auto started = engine_.start_write(block, data, deadline, frame);
    if (!started) return started.error();
    queue(started->handle, operation_kind::write, std::span<const std::byte>(frame).first(started->frame_size));
    return started->handle;
  }

  // Ends the operation as cancelled if `scope` allows: a read always; a write with_effects always,
  // without_effects only while its frame was not handed to the stream (it is then never sent). True
  // means the operation is complete now, with errc::cancelled, reported by this return: step() does not
  // report it and its slot may be reused at once. A reply that still arrives is dropped as an unknown
  // transaction ID. False if not in flight or not allowed.
  constexpr bool cancel(vf_op_handle handle, cancel_scope scope = cancel_scope::with_effects) noexcept {
    if (!engine_.in_flight(handle)) return false;
    const std::size_t slot = slot_of(handle);
    if (scope == cancel_scope::without_effects && frames_[slot].kind == operation_kind::write &&
        !frames_[slot].unsent)
      return false;
    drop_unsent(slot);
    (void)engine_.cancel(handle);
    (void)engine_.release(handle);
    return true;
  }
  [[nodiscard]] constexpr bool is_unsent(vf_op_handle handle) const noexcept {
    return engine_.in_flight(handle) && frames_[slot_of(handle)].unsent;
  }

  // VF removal, or the stream is gone: every operation in flight completes with `reason` (with
  // `transport_failure` the binding reports the stream's own error), in start order; unsent frames are
  // dropped. Latched invalidations stay latched. A negotiation in progress survives a removal (the
  // stream is still there) and ends with `reason` when the stream is gone.
  constexpr void remove(errc reason = errc::vf_removed, bool transport_failure = false) noexcept {
    engine_.remove([&](const vf_completion& done) {
      drop_unsent(slot_of(done.handle));
      push_completion(message_completion{done.handle, reason, 0, transport_failure});
    });
    if (transport_failure) negotiation_.abandon(reason);
  }
  [[nodiscard]] constexpr bool has_pending() const noexcept { return engine_.in_flight_count() != 0 || ready_count_ != 0; }
  // Takes the next completion step() would report, without starting a send: for a binding that must
  // deliver completions now (removal, teardown). False when none is ready.
  constexpr bool next_completion(message_completion& out) noexcept {
    if (ready_count_ == 0) return false;
    out = ready_[ready_head_];
    ready_head_ = (ready_head_ + 1) % ready_.size();
    --ready_count_;
    (void)engine_.release(out.handle);  // handed out: its slot may take the next operation
    return true;
  }

  // --- driving ------------------------------------------------------------------------------------
  // complete (a completion, in the order they happened), send (the unsent frames, in start order; call
  // on_sent() once the stream took them all), wait (until the next deadline of an operation in flight),
  // or idle.
  constexpr message_action step(std::uint64_t now) noexcept {
    while (const vf_event expired = engine_.expire(now)) push(expired);
    if (negotiation_.expire(now)) fail_pending(negotiation_.error());
    message_action a;
    if (next_completion(a.done)) {
      a.what = message_action::kind::complete;
      return a;
    }
    if (!sending_ && negotiation_.wants_to_send()) {
      // Cannot fail: an offer is due and the batch holds any frame.
      if (auto size = negotiation_.send(now, batch_)) {
        batch_size_ = *size;
        sending_ = true;
        a.what = message_action::kind::send;
        a.bytes = std::span<const std::byte>(batch_).first(batch_size_);
        return a;
      }
    }
    if (!sending_ && negotiation_.open() && gather() != 0) {
      sending_ = true;
      a.what = message_action::kind::send;
      a.bytes = std::span<const std::byte>(batch_).first(batch_size_);
      return a;
    }
    const std::uint64_t deadline = next_deadline();
    if (deadline != no_deadline) {
      a.what = message_action::kind::wait;
      a.until = deadline;
    }
    return a;
  }

  // The stream took the last send.
  constexpr void on_sent() noexcept { sending_ = false; }

  // Bytes the stream delivered. Returns no_error, or the protocol violation that ends the stream (the
  // sticky framing error: a length outside the framing's bounds); once it is reported the channel
  // accepts nothing more and every start fails with it.
  constexpr errc on_received(std::span<const std::byte> chunk) noexcept {
    if (receive_error_ != no_error) return receive_error_;
    while (!chunk.empty()) {
      const auto step_result = decoder_.feed(chunk);
      chunk = chunk.subspan(step_result.consumed);
      if (step_result.error != no_error) {
        receive_error_ = errc::protocol_violation;
        return receive_error_;
      }
      if (step_result.packet.empty()) continue;
      on_packet(step_result.packet, step_result.packet_size);
    }
    return no_error;
  }
  // The stream ended (eof): cut mid-frame is truncated_message, else no_error.
  [[nodiscard]] constexpr errc on_end_of_stream() const noexcept { return decoder_.finish(); }
  [[nodiscard]] constexpr errc receive_error() const noexcept { return receive_error_; }
  // The error every operation is now refused with for good: the dead channel's, else a failed
  // negotiation's; no_error while the channel serves.
  [[nodiscard]] constexpr errc refusal() const noexcept {
    if (receive_error_ != no_error) return receive_error_;
    return negotiation_.failed() ? negotiation_.error() : no_error;
  }

  // --- invalidations ------------------------------------------------------------------------------
  // The stream is read continuously while the channel is in use, so invalidations are latched as they
  // arrive whether or not anyone watches.
  constexpr void watch_invalidations(bool) noexcept {}
  // A stream's end or a failed negotiation ends the watch through the binding (refusal()); the channel has
  // no failure of its own for it.
  static constexpr errc take_watch_failure() noexcept { return no_error; }
  [[nodiscard]] constexpr block_mask pending_invalidations() const noexcept { return engine_.pending_invalidations(); }
  constexpr block_mask take_invalidations() noexcept { return engine_.take_invalidations(); }

  // --- negotiation ----------------------------------------------------------------------------------
  [[nodiscard]] constexpr const vf_negotiation& negotiation() const noexcept { return negotiation_; }
  // The protocol version agreed with the PF, (major << 16) | minor; 0 while none is (or negotiation is off).
  [[nodiscard]] constexpr std::uint32_t negotiated_version() const noexcept { return negotiation_.version(); }

  // The earliest deadline: of an operation in flight or of the negotiation's offer; no_deadline if none.
  [[nodiscard]] constexpr std::uint64_t next_deadline() const noexcept {
    const std::uint64_t operations = engine_.next_deadline();
    const std::uint64_t offer = negotiation_.deadline();
    return operations < offer ? operations : offer;
  }
  // Completions dropped because they named an operation whose request was not yet sent (saturating).
  [[nodiscard]] constexpr std::uint64_t dropped_unsent_answers() const noexcept { return dropped_unsent_; }

  [[nodiscard]] constexpr const vf_message_engine<MaxInFlight>& engine() const noexcept { return engine_; }
  // A send was handed to the binding and not yet reported.
  [[nodiscard]] constexpr bool io_in_flight() const noexcept { return sending_; }
  // Nothing for the engine to do on a peer signal: what arrives is fed through on_received().
  constexpr void wake() noexcept {}

 private:
  struct frame_slot {
    std::array<std::byte, hyperv::max_frame_size> bytes{};
    std::size_t size{0};
    operation_kind kind{operation_kind::read};
    bool unsent{false};  // in send_queue_
  };

  // One packet from the PF (whole, or the first bytes of one of `packet_size` bytes): the negotiation's
  // answer, or the engine's.
  constexpr void on_packet(std::span<const std::byte> packet, std::size_t packet_size) noexcept {
    auto descriptor = hyperv::vmbus::decode_descriptor(packet, packet_size);
    if (descriptor && descriptor->type == hyperv::vmbus::packet_completion) {
      if (negotiation_.answers(descriptor->transaction_id)) {
        if (negotiation_.on_answer(packet, packet_size) == vf_negotiation_state::failed)
          fail_pending(negotiation_.error());
        return;
      }
      if (is_unsent(vf_op_handle{descriptor->transaction_id})) {
        if (dropped_unsent_ != ~std::uint64_t{0}) ++dropped_unsent_;
        return;
      }
    }
    const vf_event event = engine_.on_packet(packet, packet_size);
    if (event.kind == vf_event_kind::completion) push(event);
  }

  // Negotiation failed: every operation in flight ends with its error; their frames are never sent.
  constexpr void fail_pending(errc reason) noexcept {
    engine_.fail_all(reason, [&](const vf_completion& done) {
      drop_unsent(slot_of(done.handle));
      push_completion(message_completion{done.handle, reason, 0, false});
    });
  }

  // The slot's frame joins the send queue (its operation was just started: the slot is in no queue).
  constexpr void queue(vf_op_handle handle, operation_kind kind, std::span<const std::byte> frame) noexcept {
    const std::size_t slot = slot_of(handle);
    frame_slot& f = frames_[slot];
    le::copy(frame, f.bytes.data());
    f.size = frame.size();
    f.kind = kind;
    f.unsent = true;
    send_queue_[(send_head_ + send_count_) % MaxInFlight] = static_cast<std::uint16_t>(slot);
    ++send_count_;
  }
  // The slot's operation ended or was cancelled: a frame still waiting is never sent. Rare (a cancel or
  // an answer before the send, a removal), so the queue is closed up here and sending never scans.
  constexpr void drop_unsent(std::size_t slot) noexcept {
    if (!frames_[slot].unsent) return;
    frames_[slot].unsent = false;
    std::size_t kept = 0;
    for (std::size_t i = 0; i < send_count_; ++i) {
      const std::uint16_t queued = send_queue_[(send_head_ + i) % MaxInFlight];
      if (queued != slot) send_queue_[(send_head_ + kept++) % MaxInFlight] = queued;
    }
    send_count_ = kept;
  }

  // Copies the unsent frames, oldest first (the queue is in start order), into the batch; returns its size.
  constexpr std::size_t gather() noexcept {
    batch_size_ = 0;
    for (; send_count_ != 0; --send_count_, send_head_ = (send_head_ + 1) % MaxInFlight) {
      frame_slot& f = frames_[send_queue_[send_head_]];
      le::copy(std::span<const std::byte>(f.bytes).first(f.size), batch_.data() + batch_size_);
      batch_size_ += f.size;
      f.unsent = false;
    }
    return batch_size_;
  }

  constexpr void push(const vf_event& event) noexcept {
    if (event.kind != vf_event_kind::completion) return;
    const vf_completion& c = event.completion;
    drop_unsent(slot_of(c.handle));
    push_completion(message_completion{c.handle, c.error, c.bytes, false, c.peer_status});
  }
  constexpr void push_completion(const message_completion& c) noexcept {
    // Never full: each completion keeps its slot taken in the engine until next_completion() hands it out,
    // so at most MaxInFlight wait here.
    if (ready_count_ == ready_.size()) return;
    ready_[(ready_head_ + ready_count_) % ready_.size()] = c;
    ++ready_count_;
  }

  vf_message_engine<MaxInFlight> engine_;
  vf_negotiation negotiation_;
  hyperv::frame_decoder decoder_{};
  std::array<frame_slot, MaxInFlight> frames_{};
  std::array<std::uint16_t, MaxInFlight> send_queue_{};  // the slots of the unsent frames, in start order
  std::size_t send_head_{0};
  std::size_t send_count_{0};
  std::array<std::byte, max_send_size> batch_{};
  std::size_t batch_size_{0};
  std::array<message_completion, MaxInFlight> ready_{};
  std::size_t ready_head_{0};
  std::size_t ready_count_{0};
  std::uint64_t dropped_unsent_{0};
  errc receive_error_{no_error};
  bool sending_{false};
};

}  // namespace vpci::engine
