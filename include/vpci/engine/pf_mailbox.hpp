// The PF side of the config-space mailbox (binding 1), sans-I/O: one session per VF window.
//
// The binding calls service() with the current bytes of the VF's register window whenever the VF may
// have written it (a write hook, a doorbell, or a bounded poll) and whenever the PF raised an
// invalidation; it then performs the returned register writes in order.
//
// PF-owned registers (identification, status area, reserved) are read-only to the VF, as on a device: a
// config write to read-only bits never reaches the device's state, so a device cannot even see it, and it
// is no protocol violation. The session keeps a shadow of every one of them as a defence for transports
// that cannot make bits read-only: a VF write that got through is undone (the registers are restored in
// one status update) and counted as dropped, the VF is not quarantined.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include <vpci/block/endian.hpp>
#include <vpci/engine/pf_blocks.hpp>
#include <vpci/engine/registers.hpp>
#include <vpci/protocol/ntstatus.hpp>
#include <vpci/wire/mailbox.hpp>

namespace vpci::engine {

// What one service() call did, for counters and tests.
enum class mailbox_event : std::uint8_t {
  none,            // nothing new
  served,          // a request was answered
  violation,       // sequence skipped or reversed: quarantined
  reset,           // the VF asked for a mailbox reset
  invalidation,    // only the invalidation mask or its acknowledgement changed
  restored,        // only PF-owned registers were restored (a write the transport let through, undone)
};

template <std::size_t MaxVfs>
class pf_mailbox_session {
 public:
  using write_list = register_write_list<12>;

  constexpr pf_mailbox_session(pf_blocks<MaxVfs>& store, vf_index vf) noexcept : store_(&store), vf_(vf) {
    le::store_u32(identity_.data() + 0, mailbox::magic);
    le::store_u32(identity_.data() + 4, std::uint32_t{mailbox::layout_version} |
                                            (std::uint32_t{mailbox::capabilities} << 16));
    le::store_u32(identity_.data() + 8, std::uint32_t{max_block_size} | (std::uint32_t{mailbox::data_window_size} << 16));
  }

  [[nodiscard]] constexpr vf_index vf() const noexcept { return vf_; }

  // The writes that initialise a freshly placed window (after its two VSEC header dwords).
  [[nodiscard]] constexpr const write_list& initialize() noexcept {
    writes_.clear();
    last_sequence_ = 0;
    shadow_ = {};
    latched_ = block_mask{};
    reraised_ = block_mask{};
    writes_.push(mailbox::reg::magic, identity_);
    writes_.push(mailbox::reg::control, zeros_.first(4 + mailbox::request_area_size));
    writes_.push(mailbox::status_area, shadow_bytes());
    writes_.push(mailbox::reg::invalidate_ack_low, zeros_.first(16));
    writes_.push(mailbox::reg::data, zeros_.first(mailbox::data_window_size));
    return writes_;
  }

  // Services the window. `window` must hold at least mailbox::window_size bytes (a shorter one is
  // ignored: event none, no writes). Returns the writes to perform, in order.
  constexpr const write_list& service(std::span<const std::byte> window) noexcept {
    writes_.clear();
    event_ = mailbox_event::none;
    if (window.size() < mailbox::window_size) return writes_;
    bool status_changed = false;

    bool restored = false;
    if (!pf_registers_intact(window)) {
      // A write into registers only the PF writes got through the transport (a device's read-only bits
      // would have dropped it): undo it, as if it had been dropped, and count it.
      store_->count_dropped(vf_);
      writes_.push(mailbox::reg::magic, identity_);
      writes_.push(mailbox::reg::reserved, zeros_.first(mailbox::reserved_size));
      restored = true;
      status_changed = true;
    }

    // Invalidations the VF has taken leave the latch; new ones from the PF join it (OR-coalesced).
    const block_mask acknowledged{std::uint64_t{load(window, mailbox::reg::invalidate_ack_low)} |
                                  (std::uint64_t{load(window, mailbox::reg::invalidate_ack_high)} << 32)};
    const bool clear_ack = !acknowledged.empty();
    const block_mask before = latched_;
    take_acknowledged(acknowledged);
    latch_raised();

    const std::uint32_t control = load(window, mailbox::reg::control);
    if ((control & mailbox::control_reset) != 0) {
      // A reset resynchronises the sequence and lifts quarantine; latched invalidations survive it.
      // The request area is cleared too: the request left in it must neither run again nor count as a
      // skipped sequence once the VF restarts from 0.
      (void)store_->reset_vf(vf_);
      last_sequence_ = 0;
      shadow_.status = 0;
      shadow_.byte_count = 0;
      shadow_.ack_sequence = 0;
      emit_status_update(nullptr, 0, /*clear_ack=*/true);
      writes_.push(mailbox::request_area, zeros_.first(mailbox::request_area_size));
      writes_.push(mailbox::reg::control, zeros_.first(4));
      event_ = mailbox_event::reset;
      return writes_;
    }
    if (latched_ != before || clear_ack) status_changed = true;

    std::size_t data_length = 0;
    const std::uint32_t sequence = load(window, mailbox::reg::request_sequence);
    if (sequence == last_sequence_) {
      // No new request: a replayed sequence number is a no-op, the status still answers it.
    } else if (sequence == last_sequence_ + 1) {
      data_length = serve(window);
      last_sequence_ = sequence;
      shadow_.ack_sequence = sequence;
      if (event_ == mailbox_event::none) event_ = mailbox_event::served;
      status_changed = true;
    } else {
      // Skipped or reversed: the VF lost track of the protocol. Answer it so it does not wait for a
      // timeout, resynchronise on its number, and quarantine it until it resets the mailbox.
      store_->quarantine(vf_, quarantine_reason::protocol_violation);
      shadow_.status = static_cast<std::uint32_t>(ntstatus::invalid_device_request);
      shadow_.byte_count = 0;
      shadow_.ack_sequence = sequence;
      last_sequence_ = sequence;
      event_ = mailbox_event::violation;
      status_changed = true;
    }

    if (status_changed) {
      if (event_ == mailbox_event::none) event_ = restored && latched_ == before && !clear_ack ? mailbox_event::restored
                                                                                              : mailbox_event::invalidation;
      emit_status_update(data_length == 0 ? nullptr : data_.data(), data_length, clear_ack);
    }
    return writes_;
  }

  [[nodiscard]] constexpr mailbox_event last_event() const noexcept { return event_; }
  [[nodiscard]] constexpr std::uint32_t last_sequence() const noexcept { return last_sequence_; }
  [[nodiscard]] constexpr block_mask latched_invalidations() const noexcept { return latched_; }
  [[nodiscard]] constexpr std::uint32_t generation() const noexcept { return shadow_.generation; }

 private:
  struct status_shadow {
    std::uint32_t generation{0};
    std::uint32_t status{0};
    std::uint32_t byte_count{0};
    std::uint32_t ack_sequence{0};
  };

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

  static constexpr std::uint32_t load(std::span<const std::byte> window, std::uint16_t offset) noexcept {
    return le::load_u32(window.data() + offset);
  }

  // Executes the request in the window and fills the status shadow; returns the bytes of read data.
  constexpr std::size_t serve(std::span<const std::byte> window) noexcept {
    const std::uint32_t operation = load(window, mailbox::reg::request_operation);
    const block_id id{load(window, mailbox::reg::request_block_id)};
    const std::uint32_t length = load(window, mailbox::reg::request_length);
    serve_result answer{ntstatus::invalid_device_request, 0};
    std::size_t data_length = 0;
    if (operation == static_cast<std::uint32_t>(mailbox::operation::read)) {
      answer = store_->serve_read(vf_, id, length, data_);
      if (answer.status == ntstatus::success) data_length = answer.bytes;
    } else if (operation == static_cast<std::uint32_t>(mailbox::operation::write)) {
      // A length outside 1..128 never reaches the data window: serve_write refuses it first.
      const std::size_t in_window = length <= mailbox::data_window_size ? length : 0;
      answer = store_->serve_write(vf_, id, window.subspan(mailbox::reg::data, in_window));
      if (in_window == 0 && answer.status == ntstatus::success) answer = {ntstatus::invalid_parameter, 0};
    } else {
      // A quarantined VF is refused whatever it asks; otherwise the operation is unknown.
      store_->count_dropped(vf_);
      if (store_->quarantined(vf_) != quarantine_reason::none) answer.status = ntstatus::access_denied;
    }
    shadow_.status = static_cast<std::uint32_t>(answer.status);
    shadow_.byte_count = static_cast<std::uint32_t>(answer.bytes);
    return data_length;
  }

  // The generation goes odd, the data, status and mask are written, the generation goes even, and
  // the acknowledged sequence is written last: a VF that sees the new sequence sees everything else.
  constexpr void emit_status_update(const std::byte* data, std::size_t data_length, bool clear_ack) noexcept {
    shadow_.generation += 1;
    le::store_u32(generation_odd_.data(), shadow_.generation);
    writes_.push(mailbox::reg::generation, generation_odd_);
    if (data != nullptr) writes_.push(mailbox::reg::data, std::span<const std::byte>{data, data_length});
    le::store_u32(status_words_.data(), shadow_.status);
    le::store_u32(status_words_.data() + 4, shadow_.byte_count);
    writes_.push(mailbox::reg::status, status_words_);
    le::store_u64(mask_words_.data(), latched_.bits());
    writes_.push(mailbox::reg::invalidate_mask_low, mask_words_);
    if (clear_ack) writes_.push(mailbox::reg::invalidate_ack_low, zeros_.first(8));
    shadow_.generation += 1;
    le::store_u32(generation_even_.data(), shadow_.generation);
    writes_.push(mailbox::reg::generation, generation_even_);
    le::store_u32(ack_word_.data(), shadow_.ack_sequence);
    writes_.push(mailbox::reg::ack_sequence, ack_word_);
  }

  constexpr std::span<const std::byte> shadow_bytes() noexcept {
    le::store_u32(shadow_image_.data() + 0, shadow_.generation);
    le::store_u32(shadow_image_.data() + 4, shadow_.status);
    le::store_u32(shadow_image_.data() + 8, shadow_.byte_count);
    le::store_u32(shadow_image_.data() + 12, shadow_.ack_sequence);
    le::store_u64(shadow_image_.data() + 16, latched_.bits());
    return shadow_image_;
  }

  // Identification, status and reserved registers must hold exactly what the PF last wrote.
  constexpr bool pf_registers_intact(std::span<const std::byte> window) noexcept {
    for (std::size_t i = 0; i < identity_.size(); ++i)
      if (window[mailbox::reg::magic + i] != identity_[i]) return false;
    const auto expected = shadow_bytes();
    for (std::size_t i = 0; i < expected.size(); ++i)
      if (window[mailbox::status_area + i] != expected[i]) return false;
    for (std::size_t i = 0; i < mailbox::reserved_size; ++i)
      if (window[mailbox::reg::reserved + i] != std::byte{0}) return false;
    return true;
  }
  // The shadow covers every byte of the window after the VSEC header that the VF may not write.
  static_assert(mailbox::reg::magic + 12 == mailbox::reg::control);
  static_assert(mailbox::status_area + mailbox::status_area_size == mailbox::reg::invalidate_ack_low);
  static_assert(mailbox::reg::reserved + mailbox::reserved_size == mailbox::reg::data);

  pf_blocks<MaxVfs>* store_;
  vf_index vf_;
  std::uint32_t last_sequence_{0};
  status_shadow shadow_{};
  block_mask latched_{};
  block_mask reraised_{};  // latched bits raised again since they were latched
  mailbox_event event_{mailbox_event::none};
  write_list writes_{};
  std::array<std::byte, 12> identity_{};
  std::array<std::byte, 4> generation_odd_{};
  std::array<std::byte, 4> generation_even_{};
  std::array<std::byte, 8> status_words_{};
  std::array<std::byte, 8> mask_words_{};
  std::array<std::byte, 4> ack_word_{};
  std::array<std::byte, mailbox::status_area_size> shadow_image_{};
  std::array<std::byte, max_block_size> data_{};
  static constexpr std::array<std::byte, max_block_size> zeros_storage_{};
  std::span<const std::byte> zeros_{zeros_storage_};
};

}  // namespace vpci::engine
