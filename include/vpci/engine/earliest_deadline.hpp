// What a VF engine's deadline checks need to know of its pending operations, kept as they start and end
// (freestanding): a lower bound of their earliest deadline, exact until the operation holding it ends.
// The engine counts its operations itself and says how many are left when one ends. A step with nothing
// due then costs no pass over the operation table, which an endpoint would otherwise make several times
// per request: a VF driver serving many VFs from one thread, or a PF host running hundreds of VF
// endpoints, pays those passes in cache misses. The table stays the truth; `earliest()` rescans it only
// after the operation holding the bound ended.
#pragma once

#include <vpci/protocol/cxx20.hpp>

#include <cstddef>
#include <cstdint>

namespace vpci::engine {

class earliest_deadline {
 public:
  static constexpr std::uint64_t none = ~std::uint64_t{0};

  constexpr void started(std::uint64_t deadline) noexcept {
    if (deadline < bound_) bound_ = deadline;  // still a lower bound when it was not exact
  }
  // An operation with `deadline` ended; `still_pending` are left.
  constexpr void ended(std::uint64_t deadline, std::size_t still_pending) noexcept {
    if (still_pending == 0) {
      bound_ = none;
      exact_ = true;
    } else if (deadline == bound_) {
      exact_ = false;  // another may share it, or the next is later: the next earliest() rescans
    }
  }
  // True when no pending operation's deadline is at or before `now`: expiry has nothing to look at.
  [[nodiscard]] constexpr bool nothing_due(std::uint64_t now) const noexcept { return now < bound_; }
  // The exact earliest deadline (none when nothing is pending); `scan()` computes it from the table when
  // the bound is no longer exact.
  template <class Scan>
  [[nodiscard]] constexpr std::uint64_t earliest(Scan&& scan) const {
    if (!exact_) {
      bound_ = scan();
      exact_ = true;
    }
    return bound_;
  }

 private:
  mutable std::uint64_t bound_{none};
  mutable bool exact_{true};
};

}  // namespace vpci::engine
