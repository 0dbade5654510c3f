// The VF side of the config-space mailbox (binding 1), sans-I/O.
//
// The binding asks step(now) what to do next and reports back: a register write to perform
// (on_written), a register read (on_read with the bytes), a wait until a time or a doorbell, an
// operation that completed, or nothing to do. Every protocol decision (sequencing, the seqlock retry,
// invalidation acknowledgement, late replies after a timeout, mailbox reset) lives here.
//
// Requests run one at a time through the single data window, in the order they were started; up to
// MaxQueued wait behind it. The engine never touches caller memory after an operation completed:
// reads land in engine storage and are copied to the destination only when the operation succeeds,
// and write data is copied in when the operation starts.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include <vpci/block/block_buffer.hpp>
#include <vpci/block/endian.hpp>
#include <vpci/protocol/block_id.hpp>
#include <vpci/protocol/errc.hpp>
#include <vpci/protocol/ntstatus.hpp>
#include <vpci/protocol/result.hpp>
#include <vpci/protocol/status_mapping.hpp>
#include <vpci/wire/mailbox.hpp>

namespace vpci::engine {

struct vf_mailbox_config {
  // How long to wait between status reads when no doorbell wakes the VF earlier.
  std::uint64_t poll_interval_ns{20'000};
  // How often a read is retried when the PF updated the window while the VF read it.
  std::uint32_t max_torn_retries{32};
  // How long an abandoned request (timed out or cancelled) may stay unanswered before the VF resets
  // the mailbox to resynchronise.
  std::uint64_t orphan_timeout_ns{100'000'000};
};

struct op_handle {
  std::uint16_t slot{0};
  std::uint16_t generation{0};
  friend constexpr bool operator==(op_handle, op_handle) noexcept = default;
};

struct op_completion {
  op_handle handle{};
  errc error{no_error};
  std::size_t bytes{0};
};

struct mailbox_action {
  enum class kind : std::uint8_t { idle, write, read, wait, complete };
  kind what{kind::idle};
  std::uint16_t offset{0};              // write/read: window offset
  std::span<const std::byte> bytes{};   // write: what to write
  std::size_t length{0};                // read: how many bytes
  std::uint64_t until{0};               // wait: the time to call step() again at the latest
  op_completion done{};                 // complete
};

template <std::size_t MaxQueued = 16>
class vf_mailbox_engine {
  static_assert(MaxQueued >= 1 && MaxQueued < 0xFFFF, "vf_mailbox_engine: MaxQueued must be 1..65534");

 public:
  constexpr explicit vf_mailbox_engine(vf_mailbox_config config = {}) noexcept : config_(config) {}

  // --- starting, cancelling, expiring -------------------------------------------------------------
  // Queues a read of block `id` into `destination` (1..128 bytes: the bytes requested).
  [[nodiscard]] constexpr result<op_handle> start_read(block_id id, std::span<std::byte> destination,
                                                       std::uint64_t deadline) noexcept {
    if (!valid_block_length(destination.size())) return errc::invalid_length;
    return enqueue(mailbox::operation::read, id, destination, {}, deadline);
  }
  // Queues a write of `data` (1..128 bytes, copied now) to block `id`.
  [[nodiscard]] constexpr result<op_handle> start_write(block_id id, std::span<const std::byte> data,
                                                        std::uint64_t deadline) noexcept {
    if (!valid_block_length(data.size())) return errc::invalid_length;
    return enqueue(mailbox::operation::write, id, {}, data, deadline);
  }
  // Completes the operation with errc::cancelled (delivered by the next step()). A request the PF
  // may already have seen is abandoned: its late answer is read and dropped. False if not pending.
  constexpr bool cancel(op_handle handle) noexcept { return finish_early(handle, errc::cancelled); }
  // True while the operation waits behind others: cancelling it then has no effect on the PF.
  [[nodiscard]] constexpr bool is_queued(op_handle handle) const noexcept {
    return handle.slot < MaxQueued && ops_[handle.slot].generation == handle.generation &&
           ops_[handle.slot].state == op_state::queued;
  }
  // Completes every operation whose deadline is <= now with errc::timeout.
  constexpr void expire(std::uint64_t now) noexcept {
    for (std::size_t i = 0; i < MaxQueued; ++i) {
      op& o = ops_[i];
      if (o.state != op_state::free && o.state != op_state::done && o.deadline <= now)
        (void)finish_early(op_handle{static_cast<std::uint16_t>(i), o.generation}, errc::timeout);
    }
  }
  // The earliest deadline of a pending operation, or UINT64_MAX.
  [[nodiscard]] constexpr std::uint64_t next_deadline() const noexcept {
    std::uint64_t earliest = ~std::uint64_t{0};
    for (const op& o : ops_)
      if ((o.state == op_state::queued || o.state == op_state::active) && o.deadline < earliest) earliest = o.deadline;
    return earliest;
  }
  // VF removal or reset: every pending operation completes with errc::vf_removed, in start order, and
  // the mailbox is probed afresh before the next request.
  constexpr void remove() noexcept {
    while (true) {
      std::size_t best = MaxQueued;
      for (std::size_t i = 0; i < MaxQueued; ++i) {
        const op& o = ops_[i];
        if ((o.state == op_state::queued || o.state == op_state::active) &&
            (best == MaxQueued || o.order < ops_[best].order))
          best = i;
      }
      if (best == MaxQueued) break;
      (void)finish_early(op_handle{static_cast<std::uint16_t>(best), ops_[best].generation}, errc::vf_removed);
    }
    probed_ = false;
    orphan_ = false;
    followup_length_ = 0;
    status_due_ = waiting_ = resetting_ = reset_write_due_ = false;
  }

  // --- invalidations ------------------------------------------------------------------------------
  // While watching, an idle engine polls the status area for invalidations.
  constexpr void watch_invalidations(bool on) noexcept { watching_ = on; }
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
    if (io_in_flight_) return {};

    if (!probed_) {
      if (!has_work()) {
        if (!watching_) return {};
        // Only watching, and the last probe found no usable mailbox: probe again at the poll
        // interval, not in a loop.
        if (probe_backoff_) {
          probe_backoff_ = false;
          probe_not_before_ = now + config_.poll_interval_ns;
        }
        if (now < probe_not_before_) return wait_action(probe_not_before_);
      }
      return begin_read(phase::probe, mailbox::reg::magic, probe_length);
    }
    if (followup_length_ != 0) {
      const std::size_t length = followup_length_;
      followup_length_ = 0;
      return begin_read(followup_phase_, followup_offset_, length);
    }
    if (reset_write_due_) {
      reset_write_due_ = false;
      le::store_u32(control_bytes_.data(), mailbox::control_reset);
      return begin_write(phase::reset_request, mailbox::reg::control, control_bytes_);
    }
    if (resetting_) {
      if (now < wake_at_ && !woken_) return wait_action(wake_at_);
      woken_ = false;
      return begin_read(phase::reset_poll, mailbox::reg::control, 4);
    }
    if (!pending_invalidation_ack_.empty()) {
      le::store_u64(ack_bytes_.data(), pending_invalidation_ack_.bits());
      pending_invalidation_ack_ = block_mask{};
      return begin_write(phase::write_ack, mailbox::reg::invalidate_ack_low, ack_bytes_);
    }
    if (waiting_) {
      if (now < wake_at_ && !woken_) return wait_action(wake_at_);
      waiting_ = false;
      woken_ = false;
      status_due_ = true;
    }
    if (status_due_) {
      status_due_ = false;
      return begin_read(phase::status, mailbox::status_area, mailbox::vf_poll_size);
    }
    if (orphan_) return wait_for_pf(now);
    if (active_ == no_op && !activate_next()) {
      if (watching_) return wait_for_pf(now);
      return {};
    }
    op& o = ops_[active_];
    if (!request_written_) {
      if (o.operation == mailbox::operation::write && !data_written_)
        return begin_write(phase::write_data, mailbox::reg::data, o.data.span());
      sequence_ += 1;
      const std::size_t length = o.operation == mailbox::operation::read ? o.destination.size() : o.data.size();
      le::store_u32(request_bytes_.data() + 0, static_cast<std::uint32_t>(o.operation));
      le::store_u32(request_bytes_.data() + 4, o.id.value());
      le::store_u32(request_bytes_.data() + 8, static_cast<std::uint32_t>(length));
      le::store_u32(request_bytes_.data() + 12, sequence_);
      return begin_write(phase::write_request, mailbox::request_area, request_bytes_);
    }
    return wait_for_pf(now);
  }

  // A doorbell or notification arrived: a waiting engine reads the status area at once.
  constexpr void wake() noexcept { woken_ = true; }

  // The last write action finished.
  constexpr void on_written(std::uint64_t now) noexcept {
    io_in_flight_ = false;
    switch (phase_) {
      case phase::write_data: data_written_ = true; break;
      case phase::write_request:
        // From here the PF may act on the request: abandoning it now leaves an orphan.
        request_written_ = true;
        if (active_ == no_op) orphan_ = true;  // cancelled or timed out while the write was in flight
        status_due_ = true;
        break;
      case phase::reset_request:
        resetting_ = true;
        wake_at_ = now;  // poll at once: an in-process PF has already answered
        reset_deadline_ = now + config_.orphan_timeout_ns;
        break;
      default: break;
    }
    phase_ = phase::idle;
  }

  // The bytes of the last read action.
  constexpr void on_read(std::span<const std::byte> bytes, std::uint64_t now) noexcept {
    io_in_flight_ = false;
    const phase was = phase_;
    phase_ = phase::idle;
    if (bytes.size() != expected_read_) {
      fail_io(errc::malformed_message, was);
      return;
    }
    switch (was) {
      case phase::probe: after_probe(bytes); return;
      case phase::status: after_status(bytes, now); return;
      case phase::data: after_data(bytes); return;
      case phase::verify_generation: after_generation(bytes); return;
      case phase::reset_poll: after_reset_poll(bytes, now); return;
      default: return;
    }
  }

  // The last write or read failed in the transport: the active operation (for a failed probe, the
  // oldest queued one) fails with `error`, and the mailbox state is read afresh (probe) before the next
  // request.
  constexpr void on_transport_error(errc error) noexcept { fail_io(error, phase_); }

  // --- observers ----------------------------------------------------------------------------------
  [[nodiscard]] constexpr std::uint32_t sequence() const noexcept { return sequence_; }
  [[nodiscard]] constexpr std::uint64_t late_replies_dropped() const noexcept { return late_replies_; }
  [[nodiscard]] constexpr std::uint64_t torn_retries() const noexcept { return torn_retries_total_; }
  [[nodiscard]] constexpr std::uint64_t resets() const noexcept { return resets_; }
  [[nodiscard]] constexpr bool has_orphan() const noexcept { return orphan_; }

 private:
  enum class op_state : std::uint8_t { free, queued, active, done };
  enum class phase : std::uint8_t { idle, probe, write_data, write_request, status, data, verify_generation, write_ack,
                                    reset_request, reset_poll };

  // A failed probe fails the oldest request (as a probe that finds no mailbox does), so a dead
  // transport fails requests instead of being probed in a loop.
  constexpr void fail_io(errc error, phase was) noexcept {
    io_in_flight_ = false;
    phase_ = phase::idle;
    if (active_ != no_op) complete_active(error, 0);
    else if (was == phase::probe) fail_probe(error);
    probed_ = false;
    orphan_ = false;
    followup_length_ = 0;
    status_due_ = waiting_ = resetting_ = reset_write_due_ = false;
  }

  static constexpr std::size_t no_op = MaxQueued;
  static constexpr std::size_t probe_length = mailbox::reg::reserved - mailbox::reg::magic;

  struct op {
    op_state state{op_state::free};
    mailbox::operation operation{mailbox::operation::read};
    std::uint16_t generation{0};
    block_id id{};
    std::span<std::byte> destination{};
    block_buffer<max_block_size> data{};
    std::uint64_t deadline{0};
    std::uint64_t order{0};
  };

  constexpr result<op_handle> enqueue(mailbox::operation operation, block_id id, std::span<std::byte> destination,
                                      std::span<const std::byte> data, std::uint64_t deadline) noexcept {
    for (std::size_t i = 0; i < MaxQueued; ++i) {
      op& o = ops_[i];
      if (o.state != op_state::free) continue;
      o.state = op_state::queued;
      o.operation = operation;
      o.generation = static_cast<std::uint16_t>(o.generation + 1);
      o.id = id;
      o.destination = destination;
      (void)o.data.assign(data);
      o.deadline = deadline;
      o.order = next_order_++;
      return op_handle{static_cast<std::uint16_t>(i), o.generation};
    }
    return errc::busy;
  }

  constexpr bool has_work() const noexcept {
    for (const op& o : ops_)
      if (o.state == op_state::queued || o.state == op_state::active) return true;
    return false;
  }

  constexpr bool finish_early(op_handle handle, errc error) noexcept {
    if (handle.slot >= MaxQueued) return false;
    op& o = ops_[handle.slot];
    if (o.generation != handle.generation || (o.state != op_state::queued && o.state != op_state::active)) return false;
    if (handle.slot == active_) {
      // The PF may already hold the request: its sequence must be acknowledged (or the mailbox
      // reset) before the next request, and its late answer is dropped.
      if (request_written_) orphan_ = true;
      active_ = no_op;
      request_written_ = false;
      data_written_ = false;
      followup_length_ = 0;
    }
    push_ready(handle, error, 0);
    o.state = op_state::done;
    o.destination = {};
    return true;
  }

  constexpr void push_ready(op_handle handle, errc error, std::size_t bytes) noexcept {
    ready_[(ready_head_ + ready_count_) % ready_.size()] = op_completion{handle, error, bytes};
    ++ready_count_;
  }
  constexpr mailbox_action take_ready() noexcept {
    const op_completion done = ready_[ready_head_];
    ready_head_ = (ready_head_ + 1) % ready_.size();
    --ready_count_;
    ops_[done.handle.slot].state = op_state::free;
    mailbox_action a;
    a.what = mailbox_action::kind::complete;
    a.done = done;
    return a;
  }

  constexpr void complete_active(errc error, std::size_t bytes) noexcept {
    op& o = ops_[active_];
    push_ready(op_handle{static_cast<std::uint16_t>(active_), o.generation}, error, bytes);
    o.state = op_state::done;
    o.destination = {};
    active_ = no_op;
    request_written_ = false;
    data_written_ = false;
  }

  constexpr bool activate_next() noexcept {
    std::size_t best = no_op;
    for (std::size_t i = 0; i < MaxQueued; ++i)
      if (ops_[i].state == op_state::queued && (best == no_op || ops_[i].order < ops_[best].order)) best = i;
    if (best == no_op) return false;
    active_ = best;
    ops_[best].state = op_state::active;
    torn_retries_ = 0;
    request_written_ = false;
    data_written_ = false;
    return true;
  }

  constexpr mailbox_action wait_action(std::uint64_t until) const noexcept {
    mailbox_action a;
    a.what = mailbox_action::kind::wait;
    const std::uint64_t deadline = next_deadline();
    a.until = deadline < until ? deadline : until;
    return a;
  }
  constexpr mailbox_action wait_for_pf(std::uint64_t now) noexcept {
    waiting_ = true;
    wake_at_ = now + config_.poll_interval_ns;
    return wait_action(wake_at_);
  }

  constexpr mailbox_action begin_read(phase next, std::uint16_t offset, std::size_t length) noexcept {
    phase_ = next;
    io_in_flight_ = true;
    expected_read_ = length;
    mailbox_action a;
    a.what = mailbox_action::kind::read;
    a.offset = offset;
    a.length = length;
    return a;
  }
  constexpr mailbox_action begin_write(phase next, std::uint16_t offset, std::span<const std::byte> bytes) noexcept {
    phase_ = next;
    io_in_flight_ = true;
    mailbox_action a;
    a.what = mailbox_action::kind::write;
    a.offset = offset;
    a.bytes = bytes;
    return a;
  }
  constexpr void follow_with_read(phase next, std::uint16_t offset, std::size_t length) noexcept {
    followup_phase_ = next;
    followup_offset_ = offset;
    followup_length_ = length;
  }

  constexpr void after_probe(std::span<const std::byte> bytes) noexcept {
    const auto at = [&](std::uint16_t reg) { return le::load_u32(bytes.data() + (reg - mailbox::reg::magic)); };
    errc error = no_error;
    if (at(mailbox::reg::magic) != mailbox::magic) error = errc::not_found;
    else if ((at(mailbox::reg::version) & 0xFFFFu) != mailbox::layout_version) error = errc::revision_mismatch;
    if (error != no_error) {
      // Not a vpci mailbox (or another layout): fail the oldest request, probe again for the next.
      fail_probe(error);
      return;
    }
    probed_ = true;
    const std::uint32_t requested = at(mailbox::reg::request_sequence);
    const std::uint32_t acknowledged = at(mailbox::reg::ack_sequence);
    sequence_ = requested;
    // An earlier driver instance left a request unanswered: wait for it (or reset) before ours.
    orphan_ = requested != acknowledged;
    orphan_since_ = ~std::uint64_t{0};
    if ((at(mailbox::reg::generation) & 1u) == 0)
      latch(block_mask{std::uint64_t{at(mailbox::reg::invalidate_mask_low)} |
                       (std::uint64_t{at(mailbox::reg::invalidate_mask_high)} << 32)},
            block_mask{std::uint64_t{at(mailbox::reg::invalidate_ack_low)} |
                       (std::uint64_t{at(mailbox::reg::invalidate_ack_high)} << 32)});
  }

  constexpr void fail_probe(errc error) noexcept {
    if (active_ != no_op || activate_next()) complete_active(error, 0);
    else probe_backoff_ = true;
  }

  // `mask` is the PF's latch, `acknowledged` what the acknowledgement registers still hold (bits the
  // VF took that the PF has not cleared yet). Everything else in the latch is new: deliver it and
  // acknowledge it, keeping the unprocessed acknowledgements in the write. A torn view can only make a
  // bit look new twice (a duplicate notification), never hide one.
  constexpr void latch(block_mask mask, block_mask acknowledged) noexcept {
    const block_mask fresh{mask.bits() & ~acknowledged.bits()};
    if (fresh.empty()) return;
    invalidations_ |= fresh;
    pending_invalidation_ack_ |= fresh;
    pending_invalidation_ack_ |= acknowledged;
  }

  constexpr void after_status(std::span<const std::byte> bytes, std::uint64_t now) noexcept {
    generation_ = le::load_u32(bytes.data() + 0);
    if ((generation_ & 1u) != 0) {
      // The PF is mid-update: nothing read this time is trustworthy; read again at once.
      status_due_ = true;
      return;
    }
    const auto status = static_cast<ntstatus>(le::load_u32(bytes.data() + 4));
    const std::uint32_t count = le::load_u32(bytes.data() + 8);
    const std::uint32_t ack = le::load_u32(bytes.data() + 12);
    latch(block_mask{le::load_u64(bytes.data() + 16)}, block_mask{le::load_u64(bytes.data() + 24)});

    if (orphan_) {
      if (ack == sequence_) {
        orphan_ = false;  // the abandoned request's answer: dropped
        orphan_since_ = ~std::uint64_t{0};  // the next orphan gets its own full timeout
        ++late_replies_;
        return;
      }
      if (orphan_since_ == ~std::uint64_t{0}) orphan_since_ = now;
      if (now - orphan_since_ >= config_.orphan_timeout_ns) start_reset();
      return;
    }
    if (active_ == no_op || !request_written_ || ack != sequence_) return;
    status_ = status;
    count_ = count;
    const op& o = ops_[active_];
    if (status == ntstatus::success && o.operation == mailbox::operation::read && count != 0 &&
        count <= o.destination.size()) {
      follow_with_read(phase::data, mailbox::reg::data, count);
      return;
    }
    follow_with_read(phase::verify_generation, mailbox::reg::generation, 4);
  }

  constexpr void after_data(std::span<const std::byte> bytes) noexcept {
    (void)data_.assign(bytes);
    follow_with_read(phase::verify_generation, mailbox::reg::generation, 4);
  }

  constexpr void after_generation(std::span<const std::byte> bytes) noexcept {
    if (active_ == no_op) return;
    if (le::load_u32(bytes.data()) != generation_) {
      // The PF rewrote the window while we read it: read the status and data again, never mixing.
      ++torn_retries_total_;
      if (++torn_retries_ > config_.max_torn_retries) {
        complete_active(errc::torn_read, 0);
        return;
      }
      status_due_ = true;
      return;
    }
    const op& o = ops_[active_];
    if (status_ != ntstatus::success) {
      const errc error = to_errc(status_);
      complete_active(error == no_error ? errc::device_error : error, 0);
      return;
    }
    if (o.operation == mailbox::operation::read) {
      if (count_ == 0) return complete_active(errc::empty_response, 0);
      if (count_ > o.destination.size() || data_.size() != count_) return complete_active(errc::protocol_violation, 0);
      le::copy(data_.span(), o.destination.data());
      return complete_active(no_error, count_);
    }
    if (count_ != o.data.size()) return complete_active(errc::protocol_violation, 0);
    complete_active(no_error, count_);
  }

  constexpr void start_reset() noexcept {
    ++resets_;
    reset_write_due_ = true;
    waiting_ = false;
  }

  constexpr void after_reset_poll(std::span<const std::byte> bytes, std::uint64_t now) noexcept {
    if ((le::load_u32(bytes.data()) & mailbox::control_reset) == 0) {
      sequence_ = 0;
      orphan_ = false;
      orphan_since_ = ~std::uint64_t{0};
      resetting_ = false;
      return;
    }
    if (now >= reset_deadline_) {
      resetting_ = false;
      if (has_work()) {
        start_reset();  // the PF did not answer: ask again while requests wait for it
      } else {
        // Nobody waits: go quiet instead of polling an unresponsive PF forever. The next request probes
        // the window again and resumes from what it finds.
        orphan_ = false;
        orphan_since_ = ~std::uint64_t{0};
        probed_ = false;
      }
      return;
    }
    wake_at_ = now + config_.poll_interval_ns;
  }

  vf_mailbox_config config_;
  std::array<op, MaxQueued> ops_{};
  std::array<op_completion, MaxQueued + 1> ready_{};
  std::size_t ready_head_{0};
  std::size_t ready_count_{0};
  std::size_t active_{no_op};
  std::uint64_t next_order_{0};
  phase phase_{phase::idle};
  bool probed_{false};
  bool io_in_flight_{false};
  bool request_written_{false};
  bool data_written_{false};
  bool status_due_{false};
  bool waiting_{false};
  bool woken_{false};
  bool watching_{false};
  bool orphan_{false};
  bool resetting_{false};
  bool reset_write_due_{false};
  phase followup_phase_{phase::idle};
  std::uint16_t followup_offset_{0};
  std::size_t followup_length_{0};
  std::uint64_t orphan_since_{~std::uint64_t{0}};
  std::uint64_t probe_not_before_{0};
  bool probe_backoff_{false};
  std::uint64_t wake_at_{0};
  std::uint64_t reset_deadline_{0};
  std::size_t expected_read_{0};
  std::uint32_t sequence_{0};
  std::uint32_t generation_{0};
  ntstatus status_{ntstatus::success};
  std::uint32_t count_{0};
  std::uint32_t torn_retries_{0};
  std::uint64_t torn_retries_total_{0};
  std::uint64_t late_replies_{0};
  std::uint64_t resets_{0};
  block_mask invalidations_{};
  block_mask pending_invalidation_ack_{};
  block_buffer<max_block_size> data_{};
  std::array<std::byte, mailbox::request_area_size> request_bytes_{};
  std::array<std::byte, 8> ack_bytes_{};
  std::array<std::byte, 4> control_bytes_{};
};

}  // namespace vpci::engine
