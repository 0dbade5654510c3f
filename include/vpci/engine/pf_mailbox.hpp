// The PF side of the config-space mailbox (binding 1, layout 2), sans-I/O: one session per VF window.
//
// The binding calls initialize() once when it places (or re-attaches to, or re-initialises after an FLR)
// the window (and release() when it stops serving it: a detach), then service() with a snapshot of the
// VF's register window whenever the VF may have written it (a write hook, a doorbell, or a bounded poll)
// and whenever the PF raised an invalidation, and tick() (or service() with the time) so that the
// heartbeat advances. Each call returns the register writes to perform, in order; signal_vf() then says
// whether to raise the VF's signal after them. The session never reads a clock: times are passed in
// (nanoseconds of any monotonic clock).
//
// `window` is a copy the binding read, not live registers: a request is decided and a written block taken
// from that one copy, so a VF that changes the window meanwhile cannot make the PF validate one value and
// use another. The binding reads `request` (the doorbell) first and the rest of the window after it
// (docs/protocol.md 4.2, the copy's order): a copy read in address order could pair a new doorbell with the
// block register from before the VF wrote it. The session writes only the registers an answer changes, so it costs the fewest register
// writes: a read answer's data dwords (all of them), `result` when it changes, and `status`, always last
// (docs/protocol.md, the PF's service routine).
//
// PF-owned registers (identity, limits, status, result, invalidation mask) are read-only to the VF, as on a
// device: a config write to read-only bits never reaches the device's state, so a device cannot even see
// it, and it is no protocol violation. The session keeps what it last wrote there as a defence for
// transports that cannot make bits read-only: a VF write that got through is undone (the register
// rewritten) and counted as dropped; the VF is not quarantined.
//
// Freestanding: no heap, no exceptions.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include <vpci/block/endian.hpp>
#include <vpci/engine/pf_blocks.hpp>
#include <vpci/engine/registers.hpp>
#include <vpci/engine/time_after.hpp>
#include <vpci/protocol/ntstatus.hpp>
#include <vpci/wire/mailbox.hpp>

namespace vpci::engine {

// What one call did, for counters and tests (the most significant when several happened).
enum class mailbox_event : std::uint8_t {
  none,          // nothing new
  initialized,   // the window was (re)initialised: a new epoch
  served,        // a request was answered
  violation,     // a sequence neither replayed nor next: answered FAILED and quarantined
  reset,         // the VF asked for a mailbox reset
  invalidation,  // only the invalidation mask or its acknowledgement changed
  restored,      // only PF-owned registers were restored (a VF write the transport let through, undone)
  heartbeat,     // only the heartbeat advanced
};

// What a window announces: the signal for the session's life, the heartbeat until set_heartbeat().
struct pf_mailbox_config {
  // Interval of the heartbeat in milliseconds (limits bits 31:16, capability bit 18); 0: no heartbeat.
  // Announce one only where something keeps it (tick(), or service() with the time, at least every
  // interval): a VF that watches an announced heartbeat that never moves finds the PF gone
  // (docs/protocol.md 5.5), and an idle VF gives a PF served only by its writes no occasion to beat.
  std::uint16_t heartbeat_ms{0};
  // The binding can raise the VF's signal (capability bit 17): a VF that sets control.SIGNAL is signalled.
  bool signal{false};
};

// No heartbeat is due: next_tick() of a session without one.
inline constexpr std::uint64_t no_tick = ~std::uint64_t{0};

template <std::size_t MaxVfs>
class pf_mailbox_session {
 public:
  // The longest update: identity and limits restored, data, result, two acknowledgement registers, two
  // mask registers, status, request_block, request and control (a reset).
  using write_list = register_write_list<12>;

  constexpr pf_mailbox_session(pf_blocks<MaxVfs>& store, vf_index vf, pf_mailbox_config config = {}) noexcept
      : store_(&store), vf_(vf), config_(config) {}

  [[nodiscard]] constexpr vf_index vf() const noexcept { return vf_; }
  [[nodiscard]] constexpr const pf_mailbox_config& config() const noexcept { return config_; }

  // (Re)initialises the window, whose current bytes `window` holds (at least mailbox::window_size from the DVSEC's
  // start; anything shorter counts as a window never initialised): a new epoch, different from the one the window
  // shows (and from this session's own), the sequence unsynchronised (the VF's first non-zero sequence is adopted),
  // `request`, result and acknowledgement registers zero (request_block and the data window too unless the window
  // shows an epoch and is no removed VF's), the invalidation latch published (this session's, with the store's
  // pending invalidations; at the session's first initialisation the latch an earlier session of this store left
  // (release()), or without one the mask the window shows when some PF initialised it: a restarted PF republishes
  // its predecessor's latch; nothing from a window the store's removed VF at this index left:
  // mailbox_history::removed), the heartbeat scheduled from `now`. control keeps the VF's SIGNAL bit (a VF sleeping
  // on the signal is signalled to see the new epoch); RESET and undefined bits are cleared, so a reset in progress
  // completes, and a pending RESET lifts the quarantine as service() would (the VF's wait for the reset ends when
  // the bit clears). A window that already shows an epoch keeps request_block and the data window (a VF may be
  // composing a request there); only `request` is zeroed. Writes: identity and limits, [control], request registers
  // (only `request` for a live window), result and mask, acknowledgement registers, data window (not for a live
  // window), and status last. Quarantine is the store's: an FLR lifts it there (pf_blocks::reset_vf).
  constexpr const write_list& initialize(std::span<const std::byte> window, std::uint64_t now = 0,
                                         bool function_reset = false) noexcept {
    begin();
    const bool readable = window.size() >= mailbox::window_size;
    const std::uint8_t shown = readable ? mailbox::decode_status(load(window, mailbox::reg::status)).epoch : 0;
    std::uint8_t epoch = mailbox::next_epoch(shown);
    if (epoch == status_.epoch) epoch = mailbox::next_epoch(epoch);  // 0 before the first: never an epoch
    const std::uint32_t control = readable ? load(window, mailbox::reg::control) : 0;
    signal_requested_ = (control & mailbox::control_signal) != 0;
    if ((control & mailbox::control_reset) != 0) (void)store_->reset_vf(vf_);

    // The latch is this PF's own when it has served the window: this session's at a re-initialisation (an
    // FLR), or the one an earlier session of this store left at a detach (a re-attach), raised-again bits
    // included. Only a PF without one, a restarted one (a new store), takes the latch a window some PF
    // initialised (an epoch and layout 2: not whatever config space held) publishes in the mask
    // registers, so invalidations the old PF latched survive the restart (docs/protocol.md 5.3). Bits the
    // VF acknowledged but the old PF never cleared are kept too: the VF reads them again, a duplicate at
    // worst, as after an FLR (a raise the old PF saw after the acknowledgement would otherwise be lost). A
    // PF with a latch of its own reads nothing there: a VF that wrote the mask registers past a
    // transport's read-only bits would otherwise carry its invented invalidations to the VF's next driver.
    // A window the store's removed VF at this index left is neither: nothing of it is adopted, and it is
    // zeroed whole below, so the next VF there reads none of the removed VF's data or invalidations.
    bool removed_vfs_window = false;
    if (!initialized_) {
      mailbox_latch kept;
      switch (store_->take_mailbox_latch(vf_, kept)) {
        case mailbox_history::kept:
          latched_ = kept.latched;
          reraised_ = kept.reraised;
          break;
        case mailbox_history::removed: removed_vfs_window = true; break;
        case mailbox_history::none:
          if (shown != 0 &&
              mailbox::layout_of(load(window, mailbox::reg::identity)) == mailbox::identity_layout::this_layout)
            latched_ |= block_mask{window_mask(window, mailbox::reg::invalidate_mask_low)};
          break;
      }
    }
    last_sequence_ = 0;
    result_ = ntstatus::success;
    // Re-raises are kept: a VF that took a bit before the re-initialisation may still write its
    // acknowledgement after it (it learns of the new epoch only from its next status read), and that
    // acknowledgement must not take out a raise it never saw.
    latch_raised();
    status_ = mailbox::status_word{0, 0, false, !latched_.empty(), 0, epoch};
    next_beat_ = config_.heartbeat_ms == 0 ? no_tick : time_after(now, beat_interval());

    set_owned(mailbox::reg::identity, mailbox::encode_identity(capabilities()));
    set_owned(mailbox::reg::limits, mailbox::encode_limits(config_.heartbeat_ms));
    set_owned(mailbox::reg::result, 0);
    set_owned(mailbox::reg::invalidate_mask_low, mask_low());
    set_owned(mailbox::reg::invalidate_mask_high, mask_high());
    set_owned(mailbox::reg::status, mailbox::encode_status(status_));
    writes_.push(mailbox::reg::identity, owned(mailbox::reg::identity, 8));
    if ((control & ~mailbox::control_signal) != 0) push_control(control);
    // A live window (it shows an epoch) may hold a request the VF is composing: the VF learns of the new
    // epoch only from its next status read, and until then writes the rest of its data and rings. Its block
    // register and data stay as it wrote them, so the request the new PF adopts is the VF's whole request
    // (its outcome is then reported as unknown: peer_restarted). Only the doorbell is zeroed, so a request
    // rung before the re-initialisation is never run. A window never initialised is zeroed whole.
    const bool live = shown != 0 && !function_reset && !removed_vfs_window;
    // A window whose request registers are zeroed here is synchronised at 0: a VF that probes it reads
    // request 0 and rings 1 next. Any other sequence belongs to a request composed before the zeroing (an
    // FLR under a driver at work), whose block register and data are gone: adopting it ran the VF's write
    // on block 0 with zeroed data. It is answered, not run (service, step 3).
    synchronised_ = !live;
    const auto skipped = static_cast<std::uint16_t>(4 * live);  // request_block, kept in a live window
    writes_.push(static_cast<std::uint16_t>(mailbox::reg::request_block + skipped), zeros(std::size_t{8} - skipped));
    writes_.push(mailbox::reg::result, owned(mailbox::reg::result, 12));
    writes_.push(mailbox::ack_area, zeros(mailbox::ack_area_size));
    if (!live) {
      for (std::byte& b : data_) b = std::byte{0};
      writes_.push(mailbox::reg::data, data_);
    }
    writes_.push(mailbox::reg::status, owned(mailbox::reg::status, 4));
    initialized_ = true;
    event_ = mailbox_event::initialized;
    signal_ = signal_requested_;
    return writes_;
  }

  // The binding stops serving the window (a detach): the session leaves its latch (the bits published and
  // not acknowledged, and those raised again) to the store, which keeps it for the VF's next session on
  // this store (pf_blocks::keep_mailbox_latch: a re-attach publishes it, not the mask registers; a
  // freestanding store keeps none), and serves nothing more (service() and tick() do nothing) until
  // initialize(): released by a block handler during a service, that service writes nothing either (a
  // hosted build; a freestanding one leaves that to its binding). Nothing for a session never initialised:
  // it has no latch of its own. Writes nothing: the window stays as the last update left it.
  constexpr void release() noexcept {
    if (!initialized_) return;
    store_->keep_mailbox_latch(vf_, mailbox_latch{latched_, reraised_});
    initialized_ = false;
  }

  // Services the window (a snapshot of at least mailbox::window_size bytes; a shorter one, or a session not
  // initialised yet, is ignored: event none, no writes). Returns the writes to perform, in order. With `now`
  // a heartbeat that is due advances in the same status write.
  constexpr const write_list& service(std::span<const std::byte> window) noexcept { return serve_window(window, false, 0); }
  constexpr const write_list& service(std::span<const std::byte> window, std::uint64_t now) noexcept {
    return serve_window(window, true, now);
  }

  // The look of a pass that nothing asked for (a binding's timer: a poll, a heartbeat due; docs/protocol.md
  // 4.2, "A look"): whether the registers through which a VF asks for a service, as the binding read them
  // (`request`, `control`, the acknowledgement pair), call for one. They do when `request` holds a
  // sequence other than 0 and the last one taken (a service would run it, answer it or judge it), control
  // asks for a reset or shows SIGNAL changed, an acknowledgement register is set, or invalidations wait in
  // the store; and before initialize() (where service() does nothing). What a service would find nothing
  // to do with does not: the registers as the last update left them, a replayed doorbell, a request being
  // composed (block register, data), control's undefined bits. Then a heartbeat that is due is tick()'s
  // (look_reads_status first): one status write where a service reads the whole window (47 dwords). Any
  // other PF-owned register a VF wrote past a transport's read-only bits is undone at the next service,
  // not at the look.
  [[nodiscard]] constexpr bool wants_service(std::uint32_t request, std::uint32_t control, std::uint32_t ack_low,
                                             std::uint32_t ack_high) const noexcept {
    const std::uint16_t sequence = mailbox::decode_request(request).sequence;
    const bool signal = (control & mailbox::control_signal) != 0;
    return !initialized_ || (sequence != 0 && sequence != last_sequence_) ||
           (control & mailbox::control_reset) != 0 || signal != signal_requested_ || ack_low != 0 || ack_high != 0 ||
           !store_->pending_invalidations(vf_).empty();
  }

  // A look that found nothing to serve, at `now`: whether it reads `status` too before tick() writes a
  // due heartbeat. tick() rewrites status whole from what the PF last wrote, so a VF write over it (a
  // transport without read-only bits) would be undone unseen: read first, a status that differs from what
  // the PF wrote (status_changed) calls for a service, which undoes the write and counts it (section 3).
  [[nodiscard]] constexpr bool look_reads_status(std::uint64_t now) const noexcept {
    return initialized_ && beat_due(now);
  }
  [[nodiscard]] constexpr bool status_changed(std::uint32_t status) const noexcept {
    return status != mailbox::encode_status(status_);
  }

  // What a VF write of `length` bytes at `offset` in the window (offsets from the DVSEC's start) calls for,
  // for a binding told of each VF write (a write hook). A write wholly inside request_block or the data
  // window only composes a request: the PF reads those registers once the VF rings `request`, and a
  // service now would find nothing to do (a replayed sequence is a no-op). Skipping it saves a whole
  // service per block register write and per data write, most of a request's work on an in-process
  // device model. A write to request_block still names the block that is likely asked for next:
  // anticipate() it. Any other write, one reaching outside the protocol registers included, asks for a
  // service.
  enum class write_effect : std::uint8_t { service, anticipate, none };
  [[nodiscard]] static constexpr write_effect effect_of_write(std::size_t offset, std::size_t length) noexcept {
    const auto inside = [offset, length](std::size_t begin, std::size_t size) {
      return offset >= begin && length <= size && offset - begin <= size - length;
    };
    if (inside(mailbox::reg::request_block, 4)) return write_effect::anticipate;
    if (inside(mailbox::reg::data, mailbox::data_window_size)) return write_effect::none;
    return write_effect::service;
  }
  // The same for a VF write anywhere in its config space, the window starting at `window`: nothing for a
  // write that misses the window, a service for one that starts before it (it reaches the DVSEC header),
  // else effect_of_write's verdict.
  [[nodiscard]] static constexpr write_effect effect_of_config_write(std::size_t window, std::size_t offset,
                                                                     std::size_t length) noexcept {
    if (offset >= window + mailbox::window_size || offset + length <= window) return write_effect::none;
    if (offset < window) return write_effect::service;
    return effect_of_write(offset - window, length);
  }
  // The VF wrote `id` to its block register: nothing is decided, but the store starts bringing the block
  // into the cache, so that it is there when the VF rings for it (pf_blocks::prefetch).
  void anticipate(block_id id) const noexcept { store_->prefetch(vf_, id); }

  // The heartbeat without reading the window: when it is due at `now`, status bits 27:26 advance (one
  // status write, event heartbeat); otherwise nothing. A heartbeat alone does not signal the VF: a VF that
  // watches liveness checks status on its own timer, and an idle VF on a signal must cost nothing.
  constexpr const write_list& tick(std::uint64_t now) noexcept {
    begin();
    if (!initialized_ || !beat_due(now)) return writes_;
    beat(now);
    push_status();
    event_ = mailbox_event::heartbeat;
    return writes_;
  }
  // The heartbeat from now on (0: none), for a binding whose beats start and stop (vpci's PF on write
  // hooks beats only while its serving loop runs). Returns the two writes that publish it, in order:
  // limits before identity when announcing, identity before limits when withdrawing, so that a VF probing
  // meanwhile never reads HEARTBEAT without its interval (docs/protocol.md 5.5). They are apart from the
  // update list (an update a failed write interrupted stays as it was) and stay valid until the next
  // set_heartbeat or initialize(); the session takes their values as what it wrote (a VF write over them
  // is undone as ever).
  constexpr std::array<register_write, 2> set_heartbeat(std::uint16_t heartbeat_ms, std::uint64_t now) noexcept {
    config_.heartbeat_ms = heartbeat_ms;
    next_beat_ = heartbeat_ms == 0 ? no_tick : time_after(now, beat_interval());
    set_owned(mailbox::reg::identity, mailbox::encode_identity(capabilities()));
    set_owned(mailbox::reg::limits, mailbox::encode_limits(config_.heartbeat_ms));
    const register_write identity{mailbox::reg::identity, owned(mailbox::reg::identity, 4)};
    const register_write limits{mailbox::reg::limits, owned(mailbox::reg::limits, 4)};
    if (heartbeat_ms == 0) return {identity, limits};
    return {limits, identity};
  }

  // When the next heartbeat is due (no_tick without a heartbeat, or before initialize()).
  [[nodiscard]] constexpr std::uint64_t next_tick() const noexcept { return initialized_ ? next_beat_ : no_tick; }

  // After the last call: raise the VF's signal once the writes are performed (the VF set control.SIGNAL and
  // the update changed something it reads; never for a heartbeat alone).
  [[nodiscard]] constexpr bool signal_vf() const noexcept { return signal_; }

  [[nodiscard]] constexpr mailbox_event last_event() const noexcept { return event_; }
  // The last sequence answered (0 before any); meaningful once synchronised().
  [[nodiscard]] constexpr std::uint16_t last_sequence() const noexcept { return last_sequence_; }
  // False from a reset, or initialize() of a live window, until the VF's first request sets the sequence;
  // true at 0 from an initialize() that zeroed the request registers (a window never initialised, an FLR).
  [[nodiscard]] constexpr bool synchronised() const noexcept { return synchronised_; }
  [[nodiscard]] constexpr block_mask latched_invalidations() const noexcept { return latched_; }
  [[nodiscard]] constexpr std::uint8_t epoch() const noexcept { return status_.epoch; }
  // The status dword as the PF last wrote it.
  [[nodiscard]] constexpr std::uint32_t status() const noexcept { return mailbox::encode_status(status_); }
  [[nodiscard]] constexpr ntstatus result() const noexcept { return result_; }
  [[nodiscard]] constexpr bool initialized() const noexcept { return initialized_; }

 private:
  // tests/explore reads and restores the whole state to explore every interleaving (no behaviour).
  friend struct explore_access;

  static constexpr std::size_t owned_size = 24;  // identity, limits | status, result, mask low, mask high

  constexpr const write_list& serve_window(std::span<const std::byte> window, bool timed, std::uint64_t now) noexcept {
    begin();
    if (window.size() < mailbox::window_size || !initialized_) return writes_;

    // 0. PF-owned registers a VF write changed (a transport without read-only bits let it through): undone,
    // counted as dropped. Identity and limits are rewritten first; result, mask and status by the update.
    bool restored = false;
    dirty_ = 0;
    for (std::size_t i = 0; i < owned_size / 4; ++i) {
      const std::uint16_t r = owned_register(i);
      if (load(window, r) == le::load_u32(owned_.data() + 4 * i)) continue;
      restored = true;
      if (r < mailbox::reg::control) writes_.push(r, owned(r, 4));
      else dirty_ = static_cast<std::uint8_t>(dirty_ | (1u << i));
    }
    if (restored) store_->count_dropped(vf_);

    // 1. Invalidations the VF acknowledged leave the latch; new ones from the PF join it (OR-coalesced).
    const std::uint32_t ack_low = load(window, mailbox::reg::invalidate_ack_low);
    const std::uint32_t ack_high = load(window, mailbox::reg::invalidate_ack_high);
    const block_mask before = latched_;
    take_acknowledged(block_mask{std::uint64_t{ack_low} | (std::uint64_t{ack_high} << 32)});
    latch_raised();
    const bool invalidation = latched_ != before || ack_low != 0 || ack_high != 0;

    // 2. A reset: nothing else this time.
    const std::uint32_t control = load(window, mailbox::reg::control);
    signal_requested_ = (control & mailbox::control_signal) != 0;
    if ((control & mailbox::control_reset) != 0) {
      (void)store_->reset_vf(vf_);  // lifts quarantine; blocks, invalidations and in-flight counts stay
      last_sequence_ = 0;
      synchronised_ = false;
      result_ = ntstatus::success;
      status_.ack = 0;
      status_.count = 0;
      if (timed && beat_due(now)) beat(now);
      publish({}, ack_low, ack_high);
      writes_.push(mailbox::reg::request_block, zeros(8));  // both request registers
      push_control(control);  // last: the VF's wait for the reset ends here
      event_ = mailbox_event::reset;
      signal_ = signal_requested_;
      return writes_;
    }

    // 3. The request: sequence 0 is never one (the register's reset value; a VF writes the sequence whole,
    // docs/protocol.md 3); otherwise adopted when unsynchronised, a replay is a no-op, the next one is
    // executed, anything else is a violation.
    const mailbox::request_word request = mailbox::decode_request(load(window, mailbox::reg::request));
    std::span<const std::byte> answer_data{};
    if (request.sequence == 0) {
    } else if (!synchronised_ || request.sequence == next_sequence()) {
      answer_data = execute(window, request);
      event_ = mailbox_event::served;
    } else if (last_sequence_ == 0) {
      // Synchronised at 0 (initialize zeroed the request registers) and not 1: rung for a request
      // composed before the zeroing. Answered STATUS_DEVICE_NOT_READY, not run, not a violation.
      answered(request.sequence, ntstatus::device_not_ready, 0);
      event_ = mailbox_event::served;
    } else if (request.sequence != last_sequence_) {
      // Skipped or reversed: the VF lost track of the protocol. Answer it so it does not wait for a
      // timeout, resynchronise on its number, and quarantine it until it resets the mailbox.
      store_->quarantine(vf_, quarantine_reason::protocol_violation);
      answered(request.sequence, ntstatus::invalid_device_request, 0);
      event_ = mailbox_event::violation;
    }

#if __STDC_HOSTED__
    // A block handler that released the session (its binding detached, the VF removed) took the window
    // from it, and may have initialised it for another session: nothing is written, the request goes
    // unanswered (release()). Hosted builds only: the check cost the Cortex-M4 image 12 bytes it does not
    // have, and a firmware's handlers (vpci_mailbox.h) cannot release a session.
    if (!initialized_) {
      begin();
      return writes_;
    }
#endif

    // 4. The heartbeat, when due, rides in the same status write.
    const bool beat_now = timed && beat_due(now);
    if (beat_now) beat(now);

    // 5. Publish: data, result, acknowledgement registers, mask, status last.
    publish(answer_data, ack_low, ack_high);
    if (event_ == mailbox_event::none) {
      if (invalidation) event_ = mailbox_event::invalidation;
      else if (restored) event_ = mailbox_event::restored;
      else if (beat_now) event_ = mailbox_event::heartbeat;
    }
    // A heartbeat alone (only the status write, carrying nothing but the new heartbeat) does not signal.
    const bool heartbeat_only = beat_now && event_ == mailbox_event::heartbeat;
    signal_ = signal_requested_ && !writes_.empty() && !heartbeat_only;
    return writes_;
  }

  // Executes the request in the window: fills data_ (a read's answer) and the answer fields; returns the
  // answer's data, padded with zeros to whole dwords (empty for anything but a successful read).
  constexpr std::span<const std::byte> execute(std::span<const std::byte> window, const mailbox::request_word& request) noexcept {
    const block_id id{load(window, mailbox::reg::request_block)};  // any 32-bit value, as the VF wrote it
    serve_result answer{ntstatus::invalid_device_request, 0};
    std::size_t data_length = 0;
    if (!request.reserved_bits && request.operation == static_cast<std::uint8_t>(mailbox::operation::read)) {
      answer = store_->serve_read(vf_, id, request.length, data_);
      if (answer.status == ntstatus::success) data_length = answer.bytes;
    } else if (!request.reserved_bits && request.operation == static_cast<std::uint8_t>(mailbox::operation::write)) {
      // A length above 128 never reaches the data window: serve_write refuses the empty span.
      const std::size_t in_window = request.length <= mailbox::data_window_size ? request.length : 0;
      answer = store_->serve_write(vf_, id, window.subspan(mailbox::reg::data, in_window));
    } else {
      // A quarantined VF is refused whatever it asks; otherwise the operation is unknown.
      store_->count_dropped(vf_);
      if (store_->quarantined(vf_) != quarantine_reason::none) answer.status = ntstatus::access_denied;
    }
    if (answer.status != ntstatus::success) answer.bytes = 0;
    answered(request.sequence, answer.status, answer.bytes);
    if (data_length == 0) return {};
    return mailbox::zero_padded(data_, data_length);
  }

  constexpr void answered(std::uint16_t sequence, ntstatus status, std::size_t bytes) noexcept {
    last_sequence_ = sequence;
    synchronised_ = true;
    result_ = status;
    status_.ack = sequence;
    status_.count = static_cast<std::uint8_t>(bytes);
  }

  // Writes in the protocol's order: a read answer's data, then what changed of result, the mask registers,
  // the acknowledgement registers the VF set (cleared), and status. The mask goes before the
  // acknowledgements are cleared: a VF that reads them cleared and then the mask reads a mask without the
  // bits they took (docs/protocol.md 4.3); cleared first, it could take a taken bit again and acknowledge it
  // after the PF raised it anew.
  constexpr void publish(std::span<const std::byte> answer, std::uint32_t ack_low, std::uint32_t ack_high) noexcept {
    if (!answer.empty()) push_data(answer);
    push_if_changed(mailbox::reg::result, static_cast<std::uint32_t>(result_));
    push_if_changed(mailbox::reg::invalidate_mask_low, mask_low());
    push_if_changed(mailbox::reg::invalidate_mask_high, mask_high());
    if (ack_low != 0) writes_.push(mailbox::reg::invalidate_ack_low, zeros(4));
    if (ack_high != 0) writes_.push(mailbox::reg::invalidate_ack_high, zeros(4));
    status_.failed = result_ != ntstatus::success;
    status_.invalidated = !latched_.empty();
    push_if_changed(mailbox::reg::status, mailbox::encode_status(status_));
  }

  // A read answer's dwords, all of them: writing its own registers costs a device nothing, and a diff
  // would cost firmware flash.
  constexpr void push_data(std::span<const std::byte> answer) noexcept { writes_.push(mailbox::reg::data, answer); }

  constexpr void push_if_changed(std::uint16_t r, std::uint32_t value) noexcept {
    if (value == owned_value(r) && (dirty_ & dirty_bit(r)) == 0) return;
    set_owned(r, value);
    writes_.push(r, owned(r, 4));
  }
  constexpr void push_status() noexcept {
    set_owned(mailbox::reg::status, mailbox::encode_status(status_));
    writes_.push(mailbox::reg::status, owned(mailbox::reg::status, 4));
  }
  // control with RESET (and undefined bits) cleared, the VF's SIGNAL kept.
  constexpr void push_control(std::uint32_t control) noexcept {
    le::store_u32(control_word_.data(), control & mailbox::control_signal);
    writes_.push(mailbox::reg::control, control_word_);
  }

  // Acknowledged bits leave the latch, except a bit the PF raised again while it was latched: the VF
  // may have read the latch before that raise, so the bit stays latched for one more delivery (a
  // duplicate at worst, never a lost invalidation).
  constexpr void take_acknowledged(block_mask acknowledged) noexcept {
    latched_ = block_mask{latched_.bits() & ~(acknowledged.bits() & ~reraised_.bits())};
    reraised_ = block_mask{reraised_.bits() & ~acknowledged.bits()};
  }
  // New invalidations from the PF join the latch (OR-coalesced); note those that hit a latched bit.
  constexpr void latch_raised() noexcept {
    const block_mask raised = store_->take_invalidations(vf_);
    reraised_ |= raised & latched_;
    latched_ |= raised;
  }
  [[nodiscard]] constexpr std::uint32_t mask_low() const noexcept { return static_cast<std::uint32_t>(latched_.bits()); }
  [[nodiscard]] constexpr std::uint32_t mask_high() const noexcept {
    return static_cast<std::uint32_t>(latched_.bits() >> 32);
  }

  [[nodiscard]] constexpr std::uint16_t next_sequence() const noexcept { return mailbox::next_sequence(last_sequence_); }
  [[nodiscard]] constexpr std::uint16_t capabilities() const noexcept {
    std::uint16_t caps = mailbox::capability::invalidation;
    if (config_.signal) caps |= mailbox::capability::signal;
    if (config_.heartbeat_ms != 0) caps |= mailbox::capability::heartbeat;
    return caps;
  }

  [[nodiscard]] constexpr std::uint64_t beat_interval() const noexcept {
    return std::uint64_t{config_.heartbeat_ms} * 1'000'000u;
  }
  [[nodiscard]] constexpr bool beat_due(std::uint64_t now) const noexcept { return next_beat_ != no_tick && now >= next_beat_; }
  // Advances the heartbeat; the next one is due an interval after `now` (not after the missed deadline: a
  // late tick does not bring a burst of beats).
  constexpr void beat(std::uint64_t now) noexcept {
    status_.heartbeat = static_cast<std::uint8_t>((status_.heartbeat + 1u) & 0x3u);
    next_beat_ = time_after(now, beat_interval());
  }

  constexpr void begin() noexcept {
    writes_.clear();
    event_ = mailbox_event::none;
    signal_ = false;
    dirty_ = 0;
  }

  // The PF-owned registers as last written, in register order: [0, 8) identity and limits (0x0C-0x13),
  // [8, 24) status, result and the mask (0x20-0x2F), as the window's pf_owned_ranges.
  static constexpr std::size_t owned_index(std::uint16_t r) noexcept {
    return r < mailbox::reg::control ? std::size_t{r} - mailbox::reg::identity : std::size_t{r} - mailbox::reg::status + 8;
  }
  static_assert(mailbox::pf_owned_ranges[0].start == mailbox::reg::identity &&
                mailbox::pf_owned_ranges[0].end == mailbox::reg::control);
  static_assert(mailbox::pf_owned_ranges[1].start == mailbox::reg::status &&
                mailbox::pf_owned_ranges[1].end == mailbox::reg::invalidate_ack_low);
  // The register of owned_ dword `i` (the inverse of owned_index).
  static constexpr std::uint16_t owned_register(std::size_t i) noexcept {
    return static_cast<std::uint16_t>(i < 2 ? mailbox::reg::identity + 4 * i : mailbox::reg::status + 4 * (i - 2));
  }
  static constexpr std::uint8_t dirty_bit(std::uint16_t r) noexcept {
    return static_cast<std::uint8_t>(1u << (owned_index(r) / 4));
  }
  constexpr void set_owned(std::uint16_t r, std::uint32_t value) noexcept { le::store_u32(owned_.data() + owned_index(r), value); }
  [[nodiscard]] constexpr std::uint32_t owned_value(std::uint16_t r) const noexcept {
    return le::load_u32(owned_.data() + owned_index(r));
  }
  [[nodiscard]] constexpr std::span<const std::byte> owned(std::uint16_t r, std::size_t length) const noexcept {
    return std::span<const std::byte>(owned_).subspan(owned_index(r), length);
  }
  // Zero dwords for the request and acknowledgement registers (the data window is zeroed from data_).
  static constexpr std::span<const std::byte> zeros(std::size_t length) noexcept {
    return std::span<const std::byte>(zeros_).first(length);
  }
  static constexpr std::uint32_t load(std::span<const std::byte> window, std::uint16_t offset) noexcept {
    return le::load_u32(window.data() + offset);
  }
  // The 64-bit mask of a low/high register pair.
  static constexpr std::uint64_t window_mask(std::span<const std::byte> window, std::uint16_t low) noexcept {
    return std::uint64_t{load(window, low)} | (std::uint64_t{load(window, static_cast<std::uint16_t>(low + 4))} << 32);
  }

  static constexpr std::array<std::byte, 8> zeros_{};

  pf_blocks<MaxVfs>* store_;
  vf_index vf_;
  pf_mailbox_config config_;
  mailbox::status_word status_{};
  ntstatus result_{ntstatus::success};
  block_mask latched_{};
  block_mask reraised_{};  // latched bits raised again since they were latched
  std::uint64_t next_beat_{no_tick};
  std::uint16_t last_sequence_{0};
  bool synchronised_{false};
  bool initialized_{false};
  bool signal_requested_{false};  // control.SIGNAL as the VF last set it
  bool signal_{false};
  std::uint8_t dirty_{0};  // PF-owned registers (status, result, mask) the window shows changed
  mailbox_event event_{mailbox_event::none};
  // After the scalars, in the order a request touches them (a PF serving hundreds of VFs misses on each
  // cache line of each session once per request).
  std::array<std::byte, owned_size> owned_{};
  std::array<std::byte, 4> control_word_{};
  write_list writes_{};
  std::array<std::byte, max_block_size> data_{};
};

}  // namespace vpci::engine
