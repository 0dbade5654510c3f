// When to poll a peer that cannot signal (freestanding, sans-I/O): fast while it is active, backing off
// while it is idle, never slower than a bound. The PF uses it for a VF's mailbox window on a transport
// without a doorbell; firmware without Asio can drive it from its own timer.
//
// After each poll the caller says whether the poll found the peer active and gets the delay before the
// next one: `fast` after an active poll; then, while polls stay idle, the delay doubles each time up to
// `slow`. From a quiet start: fast, 2 fast, 4 fast, ... slow, slow, ...; activity brings it back to fast.
#pragma once

#include <vpci/protocol/cxx20.hpp>

#include <cstdint>

namespace vpci::engine {

class poll_schedule {
 public:
  // Delays in nanoseconds. A `fast` of 0 is taken as 1; a `slow` below `fast` as `fast`.
  constexpr poll_schedule(std::uint64_t fast, std::uint64_t slow) noexcept
      : fast_(fast == 0 ? 1 : fast), slow_(slow < fast_ ? fast_ : slow), next_(fast_) {}

  // The delay before the next poll, after a poll that found the peer `active` (or not).
  constexpr std::uint64_t after_poll(bool active) noexcept {
    if (active) next_ = fast_;
    const std::uint64_t delay = next_;
    if (!active) next_ = next_ > slow_ / 2 ? slow_ : next_ * 2;
    return delay;
  }

  [[nodiscard]] constexpr std::uint64_t fast() const noexcept { return fast_; }
  [[nodiscard]] constexpr std::uint64_t slow() const noexcept { return slow_; }
  // The delay an idle poll gets next (the state the schedule carries).
  [[nodiscard]] constexpr std::uint64_t upcoming() const noexcept { return next_; }

 private:
  std::uint64_t fast_;
  std::uint64_t slow_;
  std::uint64_t next_;
};

}  // namespace vpci::engine
