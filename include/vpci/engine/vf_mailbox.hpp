// The VF side of the config-space mailbox (binding 1, layout 2), sans-I/O.
//
// The binding asks step(now) what to do next and reports back: a register write to perform
// (on_written), a register read (on_read with the bytes), a wait until a time or a peer signal, an
// operation that completed, or nothing to do. Every protocol decision (sequencing, the tear check,
// invalidation acknowledgement, late replies after a timeout, mailbox reset, a restarted or silent PF, what
// a cancellation may leave behind) lives here. The access pattern is the floor docs/protocol.md states: a
// read of n bytes is ceil(n/4) + 3 config accesses when the PF has answered by the first status read, a
// write ceil(n/4) + 2, each + 1 when the block register must change (it is not written again while the
// block ID stays the same).
//
// The engine is one explicit state machine (`state`): what it is doing with the window right now. At
// most one register access is in flight. Requests run one at a time through the single data window, in
// the order they were started; up to MaxQueued wait behind it. A request whose request area was written
// is "on the wire" until the PF acknowledges its sequence; if its operation ends first (timeout,
// cancellation, removal) the request is an orphan whose late answer is read and dropped.
//
// The engine never touches caller memory after an operation completed: reads land in engine storage and
// are copied to the destination only when the operation succeeds, and write data is copied in when the
// operation starts. Nothing the PF writes is trusted: every count and status is checked, and a PF that
// stops answering costs bounded polling, never a spin.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

#include <vpci/block/block_buffer.hpp>
#include <vpci/block/endian.hpp>
#include <vpci/config/vsec.hpp>
#include <vpci/engine/earliest_deadline.hpp>
#include <vpci/engine/poll_schedule.hpp>
#include <vpci/engine/time_after.hpp>
#include <vpci/engine/vf_operation.hpp>
#include <vpci/protocol/block_id.hpp>
#include <vpci/protocol/errc.hpp>
#include <vpci/protocol/ntstatus.hpp>
#include <vpci/protocol/result.hpp>
#include <vpci/protocol/status_mapping.hpp>
#include <vpci/wire/mailbox.hpp>

namespace vpci::engine {

// Every duration here is a wait the engine schedules: 0 is taken as 1 ns (a wait until the instant the
// engine is at is no wait, and an engine that "waited" 0 ns read the window again at that instant for
// ever). heartbeat_misses 0 is taken as 1. vf_mailbox_engine::config() shows the values in effect.
struct vf_mailbox_config {
  // How long to wait before the second status read of a request (or a reset) that a PF which does not
  // signal this VF has not answered yet; each read after an unanswered one waits twice as long as the
  // last, up to the watch interval (next_poll_at). A PF that does signal (the VF asked through
  // control.signal) is read when it signals, and otherwise only every watch interval, as a safety net
  // for the orphan timeout and the heartbeat: a VF on a doorbell that also woke every poll interval cost
  // the PF a core's worth of wake-ups (issue 14).
  std::uint64_t poll_interval_ns{20'000};
  // How long an idle VF that watches for invalidations waits between status reads when no peer signal
  // wakes it: the bound on invalidation delivery latency for a transport that cannot signal (10 ms: 100
  // config accesses per second; up to 32 intervals behind a PF that keeps INVALIDATED up with nothing to
  // take, found_nothing_to_take).
  std::uint64_t watch_interval_ns{10'000'000};
  // How often a read is retried when the PF changed its answer while the VF read it.
  std::uint32_t max_torn_retries{32};
  // How long an abandoned request (timed out or cancelled) may stay unanswered before the VF resets the
  // mailbox to resynchronise; also how long the VF waits for the PF to finish a reset.
  std::uint64_t orphan_timeout_ns{100'000'000};
  // The transport can carry the PF's signal to this VF (a doorbell, an interrupt): when the PF offers
  // signalling, the VF asks for it (control.signal) and, idle, waits for the signal instead of polling.
  bool use_signal{false};
  // The DVSEC ID the window must carry (vendors that assign their own pass theirs), and the DVSEC
  // vendor ID (by default any: discovery matched it, and a VF's own vendor ID reads 0xFFFF).
  std::uint16_t dvsec_id{mailbox::default_dvsec_id};
  config::dvsec_vendor_filter dvsec_vendor{config::any_dvsec_vendor};
  // A PF whose heartbeat (when it offers one) has not moved for this many heartbeat intervals is gone
  // (however many: a tolerance past the clock's range never runs out).
  std::uint32_t heartbeat_misses{4};
};

struct op_handle {
  std::uint16_t slot{0};
  std::uint16_t generation{0};
  friend constexpr bool operator==(op_handle, op_handle) noexcept = default;
};

using op_completion = completion<op_handle>;
using mailbox_action = action<op_handle>;

template <std::size_t MaxQueued = 16>
class vf_mailbox_engine {
  static_assert(MaxQueued >= 1 && MaxQueued < 0xFFFF, "vf_mailbox_engine: MaxQueued must be 1..65534");

 public:
  using handle_type = op_handle;
  static constexpr std::size_t max_operations = MaxQueued;
  [[nodiscard]] static constexpr std::size_t slot_of(op_handle handle) noexcept { return handle.slot; }

  // What the engine is doing with the window. The states that name an access issue it from step() and
  // wait for its report; the *_wait states wait for a time or a peer signal.
  enum class state : std::uint8_t {
    unprobed,               // nothing known about the window: probe before anything else (when there is work)
    probing,                // reading the headers, identity, limits, control, request and status (0x00-0x23)
    probe_backoff,          // the last probe found no usable window and only a watcher waits: look again later
    rechecking_window,      // the status dword of a window the last probe found unusable: probe again if it changed
    enabling_signal,        // writing control.signal: the PF signals this VF instead of being polled
    ready,                  // probed, nothing on the wire: start the next request, watch, or rest
    writing_data,           // a write request's data into the data window
    writing_block,          // the request's block ID (skipped while it is the one already there)
    writing_request,        // the request dword: the doorbell
    answer_wait,            // a request (or an orphan) is on the wire: wait for a peer signal or the poll interval
    reading_status,         // the status dword
    confirming_heartbeat,   // identity, once the beat stopped: withdrawn (docs/protocol.md 5.5), or the PF is gone
    reading_result,         // the NTSTATUS of a FAILED answer
    reading_data,           // the answer's data
    verifying,              // the tear check: the status dword again
    reading_acknowledgements,  // the acknowledgement registers (the status said INVALIDATED)
    reading_mask,           // the mask registers, once the acknowledgement registers read cleared
    acknowledging,          // writing the acknowledgement of taken invalidations
    watch_wait,             // idle, watching: wait for a peer signal, or the watch interval without one
    requesting_reset,       // writing control.reset
    reset_wait,             // waiting before reading control again
    reading_control,        // reading control: the PF clears RESET when done
    checking_beat_in_reset,  // the status dword while the reset is awaited: the heartbeat (5.5)
    checking_epoch_after_reset,  // the status dword once the reset is done: a PF that restarted meanwhile
  };

  constexpr explicit vf_mailbox_engine(vf_mailbox_config config = {}) noexcept
      : config_(in_effect(config)), looks_(fresh_looks(config_.watch_interval_ns)) {
    restart_polls();
  }

  // --- starting, cancelling, expiring -------------------------------------------------------------
  // Queues a read of block `id` (any 32-bit ID) into `destination` (1..128 bytes: the bytes requested).
  // Errors, with nothing started: invalid_length, busy (MaxQueued operations pending).
  [[nodiscard]] constexpr result<op_handle> start_read(block_id id, std::span<std::byte> destination,
                                                       std::uint64_t deadline) noexcept {
    if (!valid_block_length(destination.size())) return errc::invalid_length;
    return enqueue(operation_kind::read, id, destination, {}, deadline);
  }
  // Queues a write of `data` (1..128 bytes, copied now) to block `id`. Errors as start_read.
  [[nodiscard]] constexpr result<op_handle> start_write(block_id id, std::span<const std::byte> data,
                                                        std::uint64_t deadline) noexcept {
    if (!valid_block_length(data.size())) return errc::invalid_length;
    return enqueue(operation_kind::write, id, {}, data, deadline);
  }
  // Completes the operation with errc::cancelled (delivered by the next step()) if `scope` allows: a
  // read always; a write with_effects always, without_effects only while it waits behind others
  // (nothing of it reached the window). A request the PF may already hold becomes an orphan: its late
  // answer is read and dropped. False if not pending or not allowed.
  constexpr bool cancel(op_handle handle, cancel_scope scope = cancel_scope::with_effects) noexcept {
    const std::size_t slot = find(handle);
    if (slot == no_op) return false;
    if (scope == cancel_scope::without_effects && ops_[slot].kind == operation_kind::write && !waiting_behind(slot))
      return false;
    end_early(slot, errc::cancelled, false);
    return true;
  }
  // True while the operation waits behind others: nothing of it has reached the window.
  [[nodiscard]] constexpr bool is_queued(op_handle handle) const noexcept {
    const std::size_t slot = find(handle);
    return slot != no_op && waiting_behind(slot);
  }
  // Completes every operation whose deadline is <= now with errc::timeout.
  constexpr void expire(std::uint64_t now) noexcept {
    if (deadlines_.nothing_due(now)) return;
    for (std::size_t i = 0; i < MaxQueued; ++i)
      if (ops_[i].life.pending() && ops_[i].deadline <= now) end_early(i, errc::timeout, false);
  }
  // The earliest deadline of a pending operation, or UINT64_MAX.
  [[nodiscard]] constexpr std::uint64_t next_deadline() const noexcept {
    return deadlines_.earliest([this] {
      std::uint64_t earliest = never_;
      for (const op& o : ops_)
        if (o.life.pending() && o.deadline < earliest) earliest = o.deadline;
      return earliest;
    });
  }
  // VF removal or reset: every pending operation completes with `reason` (with `transport_failure`, the
  // binding reports its own failure instead), in start order, and the window is probed afresh before the
  // next request. An access in flight is still reported back (and its result discarded).
  constexpr void remove(errc reason = errc::vf_removed, bool transport_failure = false) noexcept {
    end_all(reason, transport_failure);
    on_wire_ = false;
    if (in_flight_) discard_report_ = true;
    state_ = state::unprobed;
  }
  // Operations started and not yet reported by step() (queued, active or completed-undelivered).
  [[nodiscard]] constexpr bool has_pending() const noexcept { return has_work() || ready_count_ != 0; }
  // Takes the next completion step() would report, without starting any I/O: for a binding that must
  // deliver completions now (removal, teardown). False when none is ready.
  constexpr bool next_completion(op_completion& out) noexcept {
    if (ready_count_ == 0) return false;
    out = take_ready().done;
    return true;
  }

  // --- invalidations ------------------------------------------------------------------------------
  // While watching, an idle engine reads the status every watch interval, or waits for the PF's signal.
  constexpr void watch_invalidations(bool on) noexcept {
    watching_ = on;
    watch_failure_ = no_error;
  }
  // Why the invalidation watch must end, once (then no_error): errc::peer_gone when a status read showed
  // the PF's heartbeat stopped while watching. Without it a watcher of a dead PF waited for good, while
  // the requests beside it failed with peer_gone.
  constexpr errc take_watch_failure() noexcept {
    const errc failure = watch_failure_;
    watch_failure_ = no_error;
    return failure;
  }
  [[nodiscard]] constexpr bool watching() const noexcept { return watching_; }
  [[nodiscard]] constexpr block_mask pending_invalidations() const noexcept { return invalidations_; }
  constexpr block_mask take_invalidations() noexcept {
    const block_mask mask = invalidations_;
    invalidations_ = block_mask{};
    return mask;
  }

  // --- driving ------------------------------------------------------------------------------------
  // What to do next. Call again after each reported write/read, after a wait ends (timer or wake()),
  // and after starting or cancelling an operation.
  constexpr mailbox_action step(std::uint64_t now) noexcept {
    expire(now);
    if (ready_count_ != 0) return take_ready();
    if (in_flight_) return {};  // an access is in flight: its report comes first
    for (;;) {
      switch (state_) {
        case state::unprobed:
          if (!has_work() && !watching_) return {};
          state_ = state::probing;
          continue;
        case state::probing: return issue_read(0, probe_length);
        case state::probe_backoff:
          if (!has_work()) {
            if (!watching_) {
              state_ = state::unprobed;
              return {};
            }
            if (now < wake_at_ && !take_wake()) return wait_action(wake_at_);
            if (backoff_status_known_) {
              state_ = state::rechecking_window;
              continue;
            }
          }
          state_ = state::probing;
          continue;
        case state::rechecking_window: return issue_read(mailbox::reg::status, 4);
        case state::enabling_signal:
          le::store_u32(control_bytes_.data(), mailbox::control_signal);
          return issue_write(mailbox::reg::control, control_bytes_);

        case state::ready:
          if (signal_ && !signalled_) {
            // The PF offers its signal and control.signal is not set (a probe found it clear, before or
            // after an earlier driver's orphan was answered): asked for before anything waits for it.
            state_ = state::enabling_signal;
            continue;
          }
          if (take_look(now)) {
            after_invalidations_ = state::ready;
            state_ = state::reading_acknowledgements;
            continue;
          }
          if (activate_next()) {
            if (silent_ || has_orphan()) {
              // The PF's heartbeat stopped: look once; a PF that moved again is served, else the request
              // fails at once (no request is sent to a PF that is gone). An orphan the silent PF left
              // unanswered is waited for, or reset, before the next sequence is rung (docs/protocol.md 4.1).
              state_ = state::reading_status;
              continue;
            }
            const op& o = ops_[active_];
            state_ = o.kind == operation_kind::write ? state::writing_data
                     : needs_block_write() ? state::writing_block
                                           : state::writing_request;
            continue;
          }
          if (!watching_) return {};
          // A PF found silent gets no signal to wait for: the watch looks every watch interval, to find
          // the beat moving again or to end the watch.
          enter_wait(state::watch_wait, signalled_ && !silent_ ? never_ : time_after(now, look_interval()));
          continue;  // a signal that came meanwhile ends the wait at once

        case state::writing_data:
        case state::writing_block:
        case state::writing_request:
          if (active_ == no_op) {  // its operation ended before its doorbell reached the window
            state_ = state::ready;
            continue;
          }
          // Whole dwords, zero-padded: a tail of one to three bytes written as such would go as a byte, a
          // word, or a word and a byte, narrower than the window's dwords (three bytes: one access more).
          if (state_ == state::writing_data) {
            block_buffer<max_block_size>& data = ops_[active_].data;
            return issue_write(mailbox::reg::data, mailbox::zero_padded(data.storage(), data.size()));
          }
          if (state_ == state::writing_block) {
            block_writing_ = ops_[active_].id.value();
            le::store_u32(block_bytes_.data(), block_writing_);
            return issue_write(mailbox::reg::request_block, block_bytes_);
          }
          return issue_write(mailbox::reg::request, encode_request());

        case state::reading_status:
        case state::verifying: return issue_read(mailbox::reg::status, 4);
        case state::confirming_heartbeat: return issue_read(mailbox::reg::identity, 4);
        case state::reading_result: return issue_read(mailbox::reg::result, 4);
        case state::reading_data: return issue_read(mailbox::reg::data, mailbox::data_extent(answer_.count));
        case state::reading_acknowledgements: return issue_read(mailbox::ack_area, mailbox::ack_area_size);
        case state::reading_mask: return issue_read(mailbox::mask_area, mailbox::mask_area_size);
        case state::acknowledging: {
          // Only the acknowledgement dwords that carry bits: the PF clears both anyway.
          const std::uint64_t ack = le::load_u64(ack_bytes_.data());
          if ((ack >> 32) == 0) return issue_write(mailbox::reg::invalidate_ack_low, std::span<const std::byte>(ack_bytes_).first(4));
          if ((ack & 0xFFFFFFFFu) == 0)
            return issue_write(mailbox::reg::invalidate_ack_high, std::span<const std::byte>(ack_bytes_).subspan(4));
          return issue_write(mailbox::ack_area, ack_bytes_);
        }
        case state::requesting_reset:
          le::store_u32(control_bytes_.data(), mailbox::control_reset | (signal_ ? mailbox::control_signal : 0u));
          return issue_write(mailbox::reg::control, control_bytes_);
        case state::reading_control: return issue_read(mailbox::reg::control, 4);
        case state::checking_beat_in_reset:
        case state::checking_epoch_after_reset: return issue_read(mailbox::reg::status, 4);

        case state::watch_wait:
          if (has_work() || !watching_) {
            state_ = state::ready;
            continue;
          }
          [[fallthrough]];
        case state::answer_wait:
          if (has_orphan() && has_work() && !orphan_waited_for_) {
            // A request now waits behind the orphan: read it at once, and poll it from the poll interval
            // again, not at the pace the abandoned request's polls had slowed to.
            orphan_waited_for_ = true;
            restart_polls();
            state_ = state::reading_status;
            continue;
          }
          if (now < wake_at_ && !take_wake()) return wait_action(wake_at_);
          state_ = state::reading_status;
          continue;
        case state::reset_wait:
          if (now < wake_at_ && !take_wake()) return wait_action(wake_at_);
          state_ = state::reading_control;
          continue;
      }
      return {};
    }
  }

  // A peer signal (doorbell, interrupt) arrived: a waiting engine reads at once; an engine that is not
  // waiting (an access in flight, say) reads the status at its next wait, unless it reads it before.
  // A signal also ends a back-off of the looks at the invalidations (take_look): the PF signals when it
  // takes an acknowledgement, and a VF that sleeps until signalled looks at nothing else.
  constexpr void wake() noexcept {
    woken_ = true;
    end_look_backoff();
  }

  // The last write action finished.
  constexpr void on_written(std::uint64_t now) noexcept {
    if (!take_report()) return;
    switch (state_) {
      case state::enabling_signal:
        signalled_ = true;
        state_ = state::ready;
        return;
      case state::writing_data:
        if (active_ == no_op) state_ = state::ready;  // cancelled while its data was written: nothing sent
        else state_ = needs_block_write() ? state::writing_block : state::writing_request;
        return;
      case state::writing_block:
        block_in_window_ = block_writing_;
        block_known_ = true;
        state_ = active_ == no_op ? state::ready : state::writing_request;
        return;
      case state::writing_request:
        // From here the PF may act on the request: if its operation already ended, it is an orphan.
        on_wire_ = true;
        wire_owner_ = active_;
        active_ = no_op;
        orphan_since_ = never_;
        orphan_waited_for_ = false;
        torn_retries_ = 0;
        restart_polls();
        enter_wait(state::answer_wait, now);  // read the status at once: an in-process PF has answered
        return;
      case state::acknowledging: state_ = after_invalidations_; return;
      case state::requesting_reset:
        ++resets_;
        reset_deadline_ = time_after(now, config_.orphan_timeout_ns);
        restart_polls();
        enter_wait(state::reset_wait, now);
        return;
      default: return;
    }
  }

  // The bytes of the last read action.
  constexpr void on_read(std::span<const std::byte> bytes, std::uint64_t now) noexcept {
    if (!take_report()) return;
    if (bytes.size() != expected_read_) return fail_access(errc::malformed_message, false, now);
    switch (state_) {
      case state::probing: return after_probe(bytes, now);
      case state::rechecking_window: return after_recheck(le::load_u32(bytes.data()), now);
      case state::reading_status: return after_status(le::load_u32(bytes.data()), now);
      case state::confirming_heartbeat: return after_identity(le::load_u32(bytes.data()), now);
      case state::reading_result: return after_result(static_cast<ntstatus>(le::load_u32(bytes.data())));
      case state::reading_data:
        (void)data_.assign(bytes.first(answer_.count));  // the rest is the answer's padding to a dword
        state_ = state::verifying;
        return;
      case state::verifying: return after_verify(le::load_u32(bytes.data()));
      case state::reading_acknowledgements: return after_acknowledgements(bytes, now);
      case state::reading_mask: return after_mask(bytes, now);
      case state::reading_control: return after_control(bytes, now);
      case state::checking_beat_in_reset: return after_reset_status(le::load_u32(bytes.data()), now);
      case state::checking_epoch_after_reset: return after_reset_done(le::load_u32(bytes.data()), now);
      default: return;
    }
  }

  // The last write or read failed in the transport. The operation it served (for a failed probe, the
  // oldest queued one) fails, marked as a transport failure so the binding reports the transport's own
  // error; the window is probed afresh before the next request.
  constexpr void on_transport_error(std::uint64_t now = 0) noexcept {
    if (!take_report()) return;
    fail_access(errc::device_error, true, now);
  }

  // --- observers ----------------------------------------------------------------------------------
  [[nodiscard]] constexpr state current_state() const noexcept { return state_; }
  [[nodiscard]] constexpr bool io_in_flight() const noexcept { return in_flight_; }
  [[nodiscard]] constexpr std::uint16_t sequence() const noexcept { return sequence_; }
  [[nodiscard]] constexpr std::uint8_t epoch() const noexcept { return epoch_; }
  [[nodiscard]] constexpr bool signalled() const noexcept { return signal_; }
  [[nodiscard]] constexpr std::uint64_t late_replies_dropped() const noexcept { return late_replies_; }
  [[nodiscard]] constexpr std::uint64_t torn_retries() const noexcept { return torn_retries_total_; }
  [[nodiscard]] constexpr std::uint64_t resets() const noexcept { return resets_; }
  [[nodiscard]] constexpr std::uint64_t restarts_seen() const noexcept { return restarts_; }
  [[nodiscard]] constexpr bool has_orphan() const noexcept { return on_wire_ && wire_owner_ == no_op; }
  [[nodiscard]] constexpr bool peer_silent() const noexcept { return silent_; }
  // The configuration in effect: as given, with the zeros vf_mailbox_config names taken as 1.
  [[nodiscard]] constexpr const vf_mailbox_config& config() const noexcept { return config_; }

 private:
  static constexpr std::size_t no_op = MaxQueued;
  // tests/explore reads and restores the whole state to explore every interleaving (no behaviour).
  friend struct explore_access;
  static constexpr std::uint64_t never_ = ~std::uint64_t{0};
  // The back-off of looks that find nothing to take tops out at 32 watch intervals.
  static constexpr std::uint64_t max_look_backoff = 32;
  // The probe reads the window from its extended capability header to the status dword.
  static constexpr std::size_t probe_length = mailbox::reg::status + 4;

  // What a request touches comes first, the data's length included (block_buffer keeps it before the
  // bytes), so a read leaves the data's lines alone.
  struct op {
    operation_slot life{};  // free (never used, or ended and handed out by step()), pending, or ended
    operation_kind kind{operation_kind::read};
    std::uint16_t generation{0};
    block_id id{};
    std::uint64_t deadline{0};
    std::span<std::byte> destination{};
    block_buffer<max_block_size> data{};
  };

  // --- operations ---
  constexpr std::size_t find(op_handle handle) const noexcept {
    if (handle.slot >= MaxQueued) return no_op;
    const op& o = ops_[handle.slot];
    return o.generation == handle.generation && o.life.pending() ? handle.slot : no_op;
  }

  constexpr result<op_handle> enqueue(operation_kind kind, block_id id, std::span<std::byte> destination,
                                      std::span<const std::byte> data, std::uint64_t deadline) noexcept {
    for (std::size_t i = 0; i < MaxQueued; ++i) {
      op& o = ops_[i];
      if (!o.life.reusable()) continue;
      o.life.start();
      o.kind = kind;
      o.generation = static_cast<std::uint16_t>(o.generation + 1);
      o.id = id;
      o.destination = destination;
      (void)o.data.assign(data);
      o.deadline = deadline;
      deadlines_.started(deadline);
      pending_[pending_count_++] = static_cast<std::uint16_t>(i);
      return op_handle{static_cast<std::uint16_t>(i), o.generation};
    }
    return errc::busy;
  }

  constexpr bool has_work() const noexcept { return pending_count_ != 0; }
  // Pending and nothing of it reached the window yet.
  constexpr bool waiting_behind(std::size_t slot) const noexcept {
    return slot != active_ && !(on_wire_ && wire_owner_ == slot);
  }

  // Ends operation `slot`, reporting (error, bytes) from the next step().
  constexpr void end(std::size_t slot, errc error, std::size_t bytes, bool transport_failure,
                     ntstatus peer_status = ntstatus::success) noexcept {
    op& o = ops_[slot];
    o.life.end();
    o.destination = {};
    std::size_t kept = 0;
    for (std::size_t i = 0; i < pending_count_; ++i)
      if (pending_[i] != slot) pending_[kept++] = pending_[i];
    pending_count_ = kept;
    deadlines_.ended(o.deadline, pending_count_);
    ready_[(ready_head_ + ready_count_) % ready_.size()] =
        op_completion{op_handle{static_cast<std::uint16_t>(slot), o.generation}, error, bytes, transport_failure, peer_status};
    ++ready_count_;
  }
  // Ends an operation before its answer: a request it put on the wire becomes an orphan.
  constexpr void end_early(std::size_t slot, errc error, bool transport_failure) noexcept {
    if (slot == active_) active_ = no_op;
    if (on_wire_ && wire_owner_ == slot) wire_owner_ = no_op;
    end(slot, error, 0, transport_failure);
  }
  // Ends every pending operation, oldest first.
  constexpr void end_all(errc error, bool transport_failure) noexcept {
    while (pending_count_ != 0) end_early(pending_[0], error, transport_failure);
  }
  // The request on the wire has its answer (or failed): ends its owner, if it still has one.
  constexpr void end_wire(errc error, std::size_t bytes, ntstatus peer_status = ntstatus::success) noexcept {
    on_wire_ = false;
    if (wire_owner_ == no_op) return;
    const std::size_t owner = wire_owner_;
    wire_owner_ = no_op;
    end(owner, error, bytes, false, peer_status);
  }

  constexpr mailbox_action take_ready() noexcept {
    const op_completion done = ready_[ready_head_];
    // An emptied ring starts over at its first slot: one completion at a time (every synchronous call)
    // then always uses the same cache line instead of walking through all of them.
    ready_head_ = --ready_count_ == 0 ? 0 : (ready_head_ + 1) % ready_.size();
    ops_[done.handle.slot].life.reported();
    mailbox_action a;
    a.what = mailbox_action::kind::complete;
    a.done = done;
    return a;
  }

  constexpr bool activate_next() noexcept {
    if (active_ != no_op) return true;
    if (pending_count_ == 0) return false;
    active_ = pending_[0];
    return true;
  }

  // The block register keeps its value between requests (the PF zeroes it only when it resets the window,
  // initialises a fresh one or takes an FLR; the probe reads it): a request for the same block skips the
  // write. Except sequence 1: a PF zeroed by an FLR this VF has not seen yet runs 1 (synchronised at 0,
  // docs/protocol.md 5.1), so the block register must be this request's, not the zero the FLR left.
  constexpr bool needs_block_write() const noexcept {
    return !block_known_ || block_in_window_ != ops_[active_].id.value() || mailbox::next_sequence(sequence_) == 1;
  }

  // --- accesses ---
  constexpr mailbox_action issue_read(std::uint16_t offset, std::size_t length) noexcept {
    in_flight_ = true;
    expected_read_ = length;
    // This read sees every status the PF wrote before it signalled: the signals so far are answered.
    if (offset <= mailbox::reg::status && mailbox::reg::status < offset + length) woken_ = false;
    mailbox_action a;
    a.what = mailbox_action::kind::read;
    a.offset = offset;
    a.length = length;
    return a;
  }
  constexpr mailbox_action issue_write(std::uint16_t offset, std::span<const std::byte> bytes) noexcept {
    in_flight_ = true;
    mailbox_action a;
    a.what = mailbox_action::kind::write;
    a.offset = offset;
    a.bytes = bytes;
    return a;
  }
  // The report of the access in flight; false when remove() made it moot (the result is discarded).
  constexpr bool take_report() noexcept {
    if (!in_flight_) return false;
    in_flight_ = false;
    return !std::exchange(discard_report_, false);
  }

  // The request dword of the active operation, with the next sequence number (16-bit, never 0: a PF
  // reads 0 as "no request").
  constexpr std::span<const std::byte> encode_request() noexcept {
    const op& o = ops_[active_];
    const std::size_t length = o.kind == operation_kind::read ? o.destination.size() : o.data.size();
    sequence_ = mailbox::next_sequence(sequence_);
    le::store_u32(request_bytes_.data(),
                  mailbox::encode_request(sequence_, length,
                                          o.kind == operation_kind::read ? mailbox::operation::read : mailbox::operation::write));
    return request_bytes_;
  }

  // --- waiting ---
  // When the status of an unanswered request (or `control`, during a reset) is read next. A PF that
  // signals this VF is read when it signals, and otherwise every watch interval. One that does not is
  // read at the poll interval, then twice as long after each unanswered read, up to the watch interval
  // (engine::poll_schedule, the rule the PF polls a window by). A PF that polls its windows itself
  // answers a request that finds it idle only at its next poll (vpci's: up to 10 ms): read every 20 us,
  // the first request after an idle spell cost 500 status reads instead of 4, and a hung PF 50,000
  // accesses a second per pending request. The doubling keeps the answer's delay under about twice
  // the time the PF took. Either way no later than look_interval().
  constexpr std::uint64_t next_poll_at(std::uint64_t now) noexcept {
    if (signalled_) return time_after(now, look_interval());
    const std::uint64_t poll = polls_.after_poll(false);
    const std::uint64_t look = look_interval();
    return time_after(now, poll < look ? poll : look);
  }
  // The longest wait before the next status read: the watch interval, or the heartbeat interval when it
  // is the shorter and the last status read found the beat where the one before left it. A read a watch
  // interval later cannot tell a stopped beat from one that went round (note_heartbeat), so the next one
  // comes an interval later, until the beat moves or has stood for the misses that make the PF gone. The
  // one rule for the watch, a signalled request and the doubling polls: with the watch interval alone, a
  // watch or a request never found a PF with a beat of 4 ms or less gone (a watch waited for good, a
  // request timed out).
  [[nodiscard]] constexpr std::uint64_t look_interval() const noexcept {
    const std::uint64_t beat = heartbeat_interval_ns_;
    return beat_unsure_ && beat != 0 && beat < config_.watch_interval_ns ? beat : config_.watch_interval_ns;
  }
  // The doubling polls start again from the poll interval.
  constexpr void restart_polls() noexcept {
    polls_ = poll_schedule(config_.poll_interval_ns, config_.watch_interval_ns);
  }
  // Only a watch waits: no request is queued or on the wire behind an orphan.
  [[nodiscard]] constexpr bool watching_alone() const noexcept { return watching_ && !has_work(); }
  constexpr bool take_wake() noexcept { return std::exchange(woken_, false); }
  // A signal that came before the wait still ends it: only a status read issued after the signal has
  // seen what the PF signalled (issue_read forgets the signal then).
  constexpr void enter_wait(state next, std::uint64_t wake_at) noexcept {
    state_ = next;
    wake_at_ = wake_at;
  }
  constexpr mailbox_action wait_action(std::uint64_t until) const noexcept {
    mailbox_action a;
    a.what = mailbox_action::kind::wait;
    const std::uint64_t deadline = next_deadline();
    a.until = deadline < until ? deadline : until;
    return a;
  }

  // --- reports ---
  // A failed or malformed access: the operation it served fails; the window is probed afresh. A probe
  // that fails fails the oldest request, so a dead or foreign window fails requests instead of being
  // probed in a loop; a lone watcher backs off to the watch interval instead.
  constexpr void fail_access(errc error, bool transport_failure, std::uint64_t now) noexcept {
    if (state_ == state::probing || state_ == state::rechecking_window) return fail_probe(error, transport_failure, now);
    if (active_ != no_op) {
      const std::size_t slot = active_;
      active_ = no_op;
      end(slot, error, 0, transport_failure);
    } else if (on_wire_ && wire_owner_ != no_op) {
      const std::size_t slot = wire_owner_;
      wire_owner_ = no_op;
      end(slot, error, 0, transport_failure);
    }
    on_wire_ = false;
    block_known_ = false;
    state_ = state::unprobed;
  }

  // A probe that found no usable window (or failed in the transport): the oldest request fails with
  // `error`; a watcher alone looks again every watch interval. It looks at the status dword only, which a
  // PF writes last when it initialises the window, and probes the whole window again when that changed:
  // probing every interval cost a watcher 9 accesses per interval (900 a second), not the 100 of an idle
  // watcher's budget. `status` is the status dword the probe read (none after a transport failure: the
  // next look is a whole probe).
  constexpr void fail_probe(errc error, bool transport_failure, std::uint64_t now,
                            const std::uint32_t* status = nullptr) noexcept {
    if (activate_next()) {
      const std::size_t slot = active_;
      active_ = no_op;
      end(slot, error, 0, transport_failure);
    }
    backoff_status_known_ = status != nullptr;
    if (status != nullptr) backoff_status_ = *status;
    backoff_verdict_ = transport_failure ? no_error : error;
    note_unusable_window();
    if (!has_work() && watching_) enter_wait(state::probe_backoff, time_after(now, config_.watch_interval_ns));
    else state_ = state::unprobed;
  }

  constexpr void after_recheck(std::uint32_t word, std::uint64_t now) noexcept {
    if (word == backoff_status_) {
      note_unusable_window();
      return enter_wait(state::probe_backoff, time_after(now, config_.watch_interval_ns));
    }
    state_ = state::probing;
  }

  // A window of another layout or revision, or one too short for this layout, will not report
  // invalidations this VF can read: the watch ends with that verdict, as a request does (and at each look
  // after it, for a watch started again). A window not initialised yet, or none there yet, is watched on.
  // The watch of a foreign window waited for good, polling, and poll_invalidations said success.
  constexpr void note_unusable_window() noexcept {
    if (backoff_verdict_ == errc::revision_mismatch || backoff_verdict_ == errc::not_supported)
      fail_watch(backoff_verdict_);
  }
  // Why a watch must end (take_watch_failure), when one is on.
  constexpr void fail_watch(errc why) noexcept {
    if (watching_) watch_failure_ = why;
  }

  constexpr void after_probe(std::span<const std::byte> bytes, std::uint64_t now) noexcept {
    const auto at = [&](std::uint16_t reg) { return le::load_u32(bytes.data() + reg); };
    const std::uint32_t status_word = at(mailbox::reg::status);
    if (at(mailbox::reg::ext_header) == 0xFFFF'FFFFu && status_word == 0xFFFF'FFFFu) {
      // All ones: the function no longer answers config reads (surprise removal, VF Enable cleared), as
      // after_status judges it. The requests and the watch end with peer_gone, not not_found: "no mailbox
      // here" would send a driver looking elsewhere for a function that is gone.
      fail_watch(errc::peer_gone);
      return fail_probe(errc::peer_gone, false, now, &status_word);
    }
    const std::uint32_t header1 = at(mailbox::reg::dvsec_header1);
    const bool dvsec = (at(mailbox::reg::ext_header) & 0xFFFFu) == 0x0023u &&
                       (at(mailbox::reg::dvsec_header2) & 0xFFFFu) == config_.dvsec_id &&
                       config_.dvsec_vendor.matches(static_cast<std::uint16_t>(header1 & 0xFFFFu));
    if (!dvsec) return fail_probe(errc::not_found, false, now, &status_word);
    const std::uint32_t identity = at(mailbox::reg::identity);
    const mailbox::status_word status = mailbox::decode_status(status_word);
    // The verdicts and their order are config::find_mailbox's (docs/protocol.md 2).
    if (((header1 >> 16) & 0xFu) != mailbox::dvsec_revision) return fail_probe(errc::revision_mismatch, false, now, &status_word);
    if ((header1 >> 20) < mailbox::window_size) return fail_probe(errc::not_supported, false, now, &status_word);
    // A window no PF has initialised yet is not usable yet, as a VF driver that loads before its PF finds it.
    switch (mailbox::layout_of(identity)) {
      case mailbox::identity_layout::uninitialised: return fail_probe(errc::not_found, false, now, &status_word);
      case mailbox::identity_layout::other: return fail_probe(errc::revision_mismatch, false, now, &status_word);
      case mailbox::identity_layout::this_layout: break;
    }
    if (status.epoch == 0) return fail_probe(errc::not_found, false, now, &status_word);  // initialisation under way
    const auto capabilities = static_cast<std::uint16_t>(identity >> 16);
    heartbeat_interval_ns_ = (capabilities & mailbox::capability::heartbeat) != 0
                                 ? std::uint64_t{at(mailbox::reg::limits) >> 16} * 1'000'000
                                 : 0;
    signal_ = config_.use_signal && (capabilities & mailbox::capability::signal) != 0;
    invalidation_ = (capabilities & mailbox::capability::invalidation) != 0;
    note_watchable();
    epoch_ = status.epoch;
    note_heartbeat(status.heartbeat, now, true);
    const mailbox::request_word request = mailbox::decode_request(at(mailbox::reg::request));
    sequence_ = request.sequence;
    block_in_window_ = at(mailbox::reg::request_block);
    block_known_ = true;
    // An earlier driver instance left a request unanswered: an orphan, waited for (or reset) first.
    on_wire_ = request.sequence != 0 && request.sequence != status.ack;
    wire_owner_ = no_op;
    orphan_since_ = on_wire_ ? now : never_;  // this read found it unanswered: its timeout runs from here
    orphan_waited_for_ = has_work();
    end_look_backoff();
    reading_invalidations_due_ = invalidation_ && status.invalidated;
    const bool signal_asked = (at(mailbox::reg::control) & mailbox::control_signal) != 0;
    signalled_ = signal_ && signal_asked;
    restart_polls();
    // An orphan with only a watch behind it is read with the watch's looks (after_status).
    if (on_wire_ && !watching_alone()) enter_wait(state::answer_wait, next_poll_at(now));
    else state_ = state::ready;  // which asks for the signal first when it is offered and not asked for
  }

  // The heartbeat moved: the PF is alive. Not moved for heartbeat_misses intervals: the PF is gone. The
  // beat is two bits and advances once an interval, so two looks more than two intervals apart may show
  // the same value after four beats (or eight): such a look starts the count again rather than
  // continuing it. Without that, a VF that idled a multiple of four intervals found a healthy PF gone at
  // its next request. Only looks at most two intervals apart can show that the PF stopped; a PF already
  // found gone stays gone until its beat is seen to move.
  constexpr void note_heartbeat(std::uint8_t beat, std::uint64_t now, bool reset) noexcept {
    const bool may_have_wrapped = !silent_ && now - heartbeat_looked_at_ > 2 * heartbeat_interval_ns_;
    heartbeat_looked_at_ = now;
    beat_unsure_ = !reset && !silent_ && beat == heartbeat_;
    if (reset || beat != heartbeat_) {
      heartbeat_ = beat;
      heartbeat_seen_at_ = now;
      silent_ = false;
    } else if (may_have_wrapped) {
      heartbeat_seen_at_ = now;
    }
  }
  constexpr bool heartbeat_lost(std::uint64_t now) const noexcept {
    return heartbeat_interval_ns_ != 0 &&
           now - heartbeat_seen_at_ > span_times(heartbeat_interval_ns_, config_.heartbeat_misses);
  }

  // An orphan's timeout runs from the first status read that found it unanswered, so every orphan gets
  // the full timeout however long its operation waited before it was abandoned.
  constexpr bool orphan_overdue(std::uint64_t now) noexcept {
    if (!on_wire_ || wire_owner_ != no_op) return false;
    if (orphan_since_ == never_) orphan_since_ = now;
    return now - orphan_since_ >= config_.orphan_timeout_ns;
  }

  // Waits for the next status read (after reading newly raised invalidations, if any).
  constexpr void wait_then(state next, std::uint64_t wake_at, bool invalidated) noexcept {
    enter_wait(next, wake_at);
    if (invalidated) {
      after_invalidations_ = next;
      state_ = state::reading_acknowledgements;
    }
  }

  // The beat stopped and `identity` was read. Still announcing HEARTBEAT (or all ones: the function is
  // gone): the PF is gone. Withdrawn: the PF stopped beating on purpose (it withdraws identity's flag
  // before limits' interval, 5.5); it is watched without a heartbeat from now on, as after a probe
  // that found none, and the status read before goes on as read.
  constexpr void after_identity(std::uint32_t identity, std::uint64_t now) noexcept {
    if (((identity >> 16) & mailbox::capability::heartbeat) != 0) {
      silent_ = true;
      found_gone();
      state_ = state::ready;
      return;
    }
    heartbeat_interval_ns_ = 0;
    restart_polls();  // from the poll interval again, as after a probe that found no heartbeat
    after_status(stopped_beat_status_, now);
  }

  // The PF (or the function) is gone: every operation and the watch end with peer_gone. A request on the
  // wire becomes an orphan, as any abandoned request: a PF that beats again may still run it, so the next
  // sequence waits for its acknowledgement or a reset (docs/protocol.md 4.1). Forgotten, it was rung over,
  // and the PF quarantined the VF for the skipped sequence.
  constexpr void found_gone() noexcept {
    end_all(errc::peer_gone, false);
    fail_watch(errc::peer_gone);
  }

  // The verdicts of a status read on the PF itself, whatever the VF waits for: all ones (the function is
  // gone), another epoch (the PF re-initialised the window), a heartbeat stopped (docs/protocol.md 5.5).
  // True when one was reached (the next state is set); false when the PF lives in this epoch.
  constexpr bool judged_peer(std::uint32_t word, std::uint64_t now) noexcept {
    if (word == 0xFFFF'FFFFu) {
      // All ones: the function no longer answers config reads (surprise removal, VF Enable cleared), as
      // Linux's pci_device_is_present judges it. No PF writes it (count 255 > 128); in epoch 15 it would
      // pass the epoch check and be polled until the deadline. Probed afresh before the next request (the
      // probe finds an orphan in the window again, if the function comes back).
      found_gone();
      on_wire_ = false;
      block_known_ = false;
      state_ = state::unprobed;
      return true;
    }
    const mailbox::status_word status = mailbox::decode_status(word);
    if (status.epoch != epoch_) {
      // The PF re-initialised the window (a restart, an FLR): what was on the wire may or may not have run.
      ++restarts_;
      if (on_wire_) end_wire(errc::peer_restarted, 0);
      on_wire_ = false;
      block_known_ = false;
      state_ = state::unprobed;
      return true;
    }
    note_heartbeat(status.heartbeat, now, false);
    if (heartbeat_lost(now)) {
      if (!silent_) {
        // A PF on write hooks withdraws its heartbeat when it stops beating and serves on (5.5); a VF that
        // probed before saw only the beat stop, called the PF gone and failed requests the PF still ran
        // (writes included), until it next probed. `identity` says which: read once, this status kept.
        stopped_beat_status_ = word;
        state_ = state::confirming_heartbeat;
        return true;
      }
      // The PF stopped beating: every operation ends with peer_gone; a new one looks once first.
      found_gone();
      state_ = state::ready;
      return true;
    }
    if (silent_) silent_ = false;
    return false;
  }

  constexpr void after_status(std::uint32_t word, std::uint64_t now) noexcept {
    if (judged_peer(word, now)) return;
    const mailbox::status_word status = mailbox::decode_status(word);
    if (!on_wire_) {
      // A watcher's poll, or a look at a PF that was silent: the next request goes out from ready.
      note_watchable();
      note_invalidated(status.invalidated);
      state_ = state::ready;
      return;
    }
    note_invalidated(status.invalidated);
    if (status.ack != sequence_) {
      const bool overdue = orphan_overdue(now);
      if (has_orphan() && watching_alone()) {
        // An orphan with no request behind it, and a watch: nothing needs the sequence yet, so it is
        // neither polled nor reset. The watch's status reads (every watch interval, or the signal) drop
        // its late answer; the next request resets it, at once if it is overdue by then. Reset here, an
        // orphan a hung PF never answered was found again by the watch's next probe, polled and reset
        // again, without end: 50,000 accesses a second after one timed-out request.
        state_ = state::ready;
        return;
      }
      if (overdue) return start_reset();
      std::uint64_t next = next_poll_at(now);
      // The doubling does not keep a request behind an orphan past the orphan timeout.
      if (has_orphan()) {
        const std::uint64_t due = time_after(orphan_since_, config_.orphan_timeout_ns);
        if (due < next) next = due;
      }
      wait_then(state::answer_wait, next, take_look(now));
      return;
    }
    if (wire_owner_ == no_op) {
      on_wire_ = false;  // the abandoned request's answer: dropped
      ++late_replies_;
      state_ = state::ready;
      return;
    }
    answer_ = status;
    answer_word_ = word;
    const op& o = ops_[wire_owner_];
    if (status.failed) {
      state_ = state::reading_result;
      return;
    }
    if (o.kind == operation_kind::write) {
      state_ = state::ready;
      return end_wire(status.count == o.data.size() ? no_error : errc::protocol_violation,
                      status.count == o.data.size() ? status.count : 0);
    }
    if (status.count == 0) {
      state_ = state::ready;
      return end_wire(errc::empty_response, 0);
    }
    if (status.count > o.destination.size()) {
      state_ = state::ready;
      return end_wire(errc::protocol_violation, 0);
    }
    state_ = state::reading_data;
  }

  constexpr void after_result(ntstatus result) noexcept {
    state_ = state::ready;
    const errc error = to_errc(result);
    // FAILED with a success status contradicts itself.
    if (error == no_error) return end_wire(errc::protocol_violation, 0);
    end_wire(error, 0, result);
  }

  constexpr void after_verify(std::uint32_t word) noexcept {
    // Whatever becomes of the answer, this read answered the signals before it (issue_read): a raise it
    // shows is read now, or a VF that sleeps until signalled never reads it.
    note_invalidated(mailbox::decode_status(word).invalidated);
    if (wire_owner_ == no_op) {
      on_wire_ = false;  // its operation ended while the answer was read: dropped
      ++late_replies_;
      state_ = state::ready;
      return;
    }
    if (!mailbox::same_answer(word, answer_word_)) {
      // The answer changed while we read it (the PF re-initialised or misbehaves): read it again, never
      // mixing two answers; bounded.
      ++torn_retries_total_;
      if (++torn_retries_ > config_.max_torn_retries) {
        state_ = state::ready;
        return end_wire(errc::torn_read, 0);
      }
      state_ = state::reading_status;
      return;
    }
    const op& o = ops_[wire_owner_];
    le::copy(data_.span(), o.destination.data());
    state_ = state::ready;
    end_wire(no_error, data_.size());
  }

  // The acknowledgement registers, read before the mask. Not cleared yet: the PF has not taken this VF's
  // last acknowledgement, and the mask may still show the bits it took. Nothing is read or acknowledged
  // now: the PF's clearing of them is an update (it signals), and the next status that shows INVALIDATED
  // looks again. Cleared: the PF rewrote the mask before it cleared them, so the mask read next shows no
  // bit already taken unless the PF raised it again.
  constexpr void after_acknowledgements(std::span<const std::byte> bytes, std::uint64_t now) noexcept {
    if (le::load_u64(bytes.data()) == 0) {
      state_ = state::reading_mask;
      return;
    }
    state_ = after_invalidations_;
    found_nothing_to_take(now);
  }

  // Every bit of a mask read after cleared acknowledgement registers is news: delivered, and acknowledged
  // alone. Writing back bits the registers held would take out a raise of those blocks that came after
  // the PF cleared them; an acknowledgement of bits read in such a mask only takes raises this VF has read
  // (or that the PF keeps latched as raised again). docs/protocol.md 4.3.
  constexpr void after_mask(std::span<const std::byte> bytes, std::uint64_t now) noexcept {
    const block_mask mask{le::load_u64(bytes.data())};
    state_ = after_invalidations_;
    if (mask.empty()) return found_nothing_to_take(now);
    end_look_backoff();
    invalidations_ |= mask;
    le::store_u64(ack_bytes_.data(), mask.bits());
    state_ = state::acknowledging;
  }

  // A PF that announces no INVALIDATION raises nothing to watch for (docs/protocol.md 4.3): a watch ends,
  // at each look while the PF stays so (it waited for good, polling).
  constexpr void note_watchable() noexcept {
    if (!invalidation_) fail_watch(errc::not_supported);
  }
  // A status that shows INVALIDATED asks for a look at the acknowledgement registers and the mask; one
  // that does not ends a back-off of the looks (found_nothing_to_take): the PF has nothing latched. Bit 25
  // of a PF without INVALIDATION means nothing: its mask registers are not read.
  constexpr void note_invalidated(bool invalidated) noexcept {
    if (invalidated && invalidation_) {
      reading_invalidations_due_ = true;
      return;
    }
    end_look_backoff();
  }
  // Whether the look a status asked for is made now. It is taken either way: a look put off by the
  // back-off is asked for again by the next status that shows INVALIDATED.
  constexpr bool take_look(std::uint64_t now) noexcept {
    return std::exchange(reading_invalidations_due_, false) && now >= next_look_at_;
  }
  // A look found nothing to take: the acknowledgement registers not cleared yet, or a mask of none under
  // INVALIDATED. A PF takes an acknowledgement when it is written (4.2), so the next status looks again.
  // A PF that keeps INVALIDATED set with nothing to take (it never clears the acknowledgement registers,
  // or its mask reads 0) cost a watcher 3 or 5 dwords every watch interval, 300 or 500 accesses a second
  // against the idle watcher's 100: from the first such look a watch interval or more after the first in
  // the row, the next one waits, one watch interval, then twice as long as the last, up to 32. Delivery
  // is delayed at most about as long as the PF has kept INVALIDATED up with nothing to take; a status
  // without INVALIDATED, a look that finds bits, a probe and a signal end the back-off. A signal also starts the row again (wake), so a look that a
  // signal came during is a first one: the status read that answers the signal looks again.
  constexpr void found_nothing_to_take(std::uint64_t now) noexcept {
    if (first_fruitless_at_ == never_) {
      first_fruitless_at_ = now;
      return;
    }
    // A request's polls look every few microseconds: a PF that takes acknowledgements at its own poll
    // (a few ms) is not broken, and is looked at as before until a watch interval has passed.
    if (now - first_fruitless_at_ < config_.watch_interval_ns) return;
    next_look_at_ = time_after(now, looks_.after_poll(false));
  }
  // Only a look that found nothing moves the schedule (and sets next_look_at_): nothing else to undo.
  constexpr void end_look_backoff() noexcept {
    if (std::exchange(first_fruitless_at_, never_) == never_) return;
    next_look_at_ = 0;
    looks_ = fresh_looks(config_.watch_interval_ns);
  }
  static constexpr vf_mailbox_config in_effect(vf_mailbox_config config) noexcept {
    const auto at_least_one = [](auto& value) {
      if (value == 0) value = 1;
    };
    at_least_one(config.poll_interval_ns);
    at_least_one(config.watch_interval_ns);
    at_least_one(config.orphan_timeout_ns);
    at_least_one(config.heartbeat_misses);
    return config;
  }
  static constexpr poll_schedule fresh_looks(std::uint64_t watch) noexcept {
    return poll_schedule(watch, watch > never_ / max_look_backoff ? never_ : watch * max_look_backoff);
  }

  constexpr void start_reset() noexcept { state_ = state::requesting_reset; }

  constexpr void after_control(std::span<const std::byte> bytes, std::uint64_t now) noexcept {
    if (le::load_u32(bytes.data()) == 0xFFFF'FFFFu) {
      // All ones (control's bits 31:2 are zero in any window): the function is gone while the VF waited
      // for its reset. Waited for until the reset deadline, and asked again for every queued request, it
      // cost 50 accesses a millisecond to a removed function and ended in timeouts, not peer_gone.
      found_gone();
      on_wire_ = false;
      block_known_ = false;
      state_ = state::unprobed;
      return;
    }
    if ((le::load_u32(bytes.data()) & mailbox::control_reset) == 0) {
      // The PF reset the window: it adopts the next sequence, and zeroed the request registers. Its status
      // is new too (ack 0, INVALIDATED as its latch): the signal that ended this wait is taken, and this
      // read does not show the status, so the next wait reads it first. A VF that sleeps until signalled
      // would otherwise never see a raise the reset published.
      on_wire_ = false;
      block_known_ = false;
      woken_ = true;
      state_ = state::checking_epoch_after_reset;
      return;
    }
    if (heartbeat_interval_ns_ != 0 && now - heartbeat_looked_at_ >= heartbeat_interval_ns_) {
      // The reset's polls read control alone: while the PF offers a heartbeat, status is read once an
      // interval too, so that a PF that stopped is found gone (5.5). Without it a PF that hung while a
      // reset was asked failed every request with timeout, never peer_gone.
      state_ = state::checking_beat_in_reset;
      return;
    }
    if (now >= reset_deadline_) {
      on_wire_ = false;
      // The PF did not answer: ask again while requests wait for it; with nobody waiting, go quiet
      // instead of polling an unresponsive PF forever (the next request probes the window afresh).
      state_ = has_work() ? state::requesting_reset : state::unprobed;
      return;
    }
    enter_wait(state::reset_wait, next_poll_at(now));
  }

  // The status read while the reset is awaited: a verdict on the PF, or back to waiting for the reset.
  constexpr void after_reset_status(std::uint32_t word, std::uint64_t now) noexcept {
    if (judged_peer(word, now)) return;
    enter_wait(state::reset_wait, next_poll_at(now));
  }

  // The status read once the reset is done, before the next request is rung. A reset is awaited mostly
  // because the PF stopped answering, and a PF that restarts performs the reset as its initialisation
  // clears `control` (docs/protocol.md 5.1): rung at once, the next request was adopted and run by the new
  // PF and still completed with peer_restarted (outcome unknown) at its status read, a write the caller
  // would retry included. Another epoch here probes the window first instead; the request then runs
  // with its outcome known. One access per completed reset.
  constexpr void after_reset_done(std::uint32_t word, std::uint64_t now) noexcept {
    if (judged_peer(word, now)) return;
    state_ = state::ready;
  }

  // Members roughly in the order a request touches them: the scalars first, then the small arrays and
  // the operation slots; the answer's data and the counters last. A PF's benchmark serving 256 VFs in
  // one process counts every cache line a request touches as a miss.
  std::size_t ready_head_{0};
  std::size_t ready_count_{0};
  std::size_t active_{no_op};      // the operation being written to the window
  std::size_t wire_owner_{no_op};  // the operation whose request is on the wire; no_op: an orphan
  std::size_t pending_count_{0};
  std::size_t expected_read_{0};
  std::uint64_t orphan_since_{never_};
  std::uint64_t wake_at_{0};
  std::uint64_t heartbeat_seen_at_{0};   // when the beat last moved (or the count started again)
  std::uint64_t heartbeat_looked_at_{0};  // the last status read
  std::uint64_t heartbeat_interval_ns_{0};
  block_mask invalidations_{};
  state state_{state::unprobed};
  state after_invalidations_{state::ready};
  bool in_flight_{false};          // the access of state_ was issued and not yet reported
  bool discard_report_{false};     // remove() happened while an access was in flight
  bool on_wire_{false};            // a request was written and its sequence not yet acknowledged
  bool woken_{false};
  bool watching_{false};
  bool signal_{false};             // the PF signals this VF (asked through control.signal)
  bool signalled_{false};          // ... and control.signal is set in the window: the PF signals now
  bool invalidation_{false};       // the PF announces INVALIDATION: its mask registers are read
  bool silent_{false};             // the PF's heartbeat stopped
  bool beat_unsure_{false};        // the last status read found the beat unmoved (look_interval)
  bool block_known_{false};        // block_in_window_ is what the block register holds
  bool reading_invalidations_due_{false};
  bool orphan_waited_for_{false};  // a request waits behind the orphan (its polls restarted for it)
  std::uint32_t block_in_window_{0};
  std::uint32_t block_writing_{0};
  errc watch_failure_{no_error};
  // The status dword the last failed probe read, which the back-off's looks compare (fail_probe).
  std::uint32_t backoff_status_{0};
  bool backoff_status_known_{false};
  errc backoff_verdict_{no_error};  // ... and its verdict (none after a transport failure)
  std::uint8_t heartbeat_{0};
  std::uint8_t epoch_{0};
  std::uint16_t sequence_{0};
  mailbox::status_word answer_{};
  std::uint32_t answer_word_{0};
  std::uint32_t stopped_beat_status_{0};  // the status read that found the beat stopped, while identity is read
  std::uint32_t torn_retries_{0};
  std::array<std::byte, 4> request_bytes_{};
  std::array<std::byte, 4> block_bytes_{};
  vf_mailbox_config config_;
  earliest_deadline deadlines_{};  // of the pending operations in ops_
  std::array<std::uint16_t, MaxQueued> pending_{};  // the pending operations' slots, oldest first
  std::array<op, MaxQueued> ops_{};
  std::array<op_completion, MaxQueued> ready_{};
  block_buffer<max_block_size> data_{};
  std::uint64_t reset_deadline_{0};
  std::uint64_t first_fruitless_at_{never_};  // the first of the looks in a row that found nothing to take
  std::uint64_t next_look_at_{0};  // the earliest look at the invalidations after fruitless ones
  poll_schedule looks_{0, 0};      // the delays between those looks (end_look_backoff)
  poll_schedule polls_{0, 0};      // the delays between status reads of an unanswered request or reset
  std::uint64_t torn_retries_total_{0};
  std::uint64_t late_replies_{0};
  std::uint64_t resets_{0};
  std::uint64_t restarts_{0};
  std::array<std::byte, 8> ack_bytes_{};
  std::array<std::byte, 4> control_bytes_{};
};

}  // namespace vpci::engine
