// The engines' wake times (freestanding): `now` plus a delay, in nanoseconds of the caller's clock, held at
// "never" (all ones) instead of wrapping. A wake time that wrapped lay before `now`: the engine read the
// window again at once and never handed back a wait, so a pump on a synchronous transport never returned
// (a test clock run out to its end gets there; steady_clock stops at 2^63). Held at never, the engine
// waits for the peer's signal alone, as an endpoint already does for a wait without an end.
#pragma once

#include <vpci/protocol/cxx20.hpp>

#include <cstdint>

namespace vpci::engine {

[[nodiscard]] constexpr std::uint64_t time_after(std::uint64_t now, std::uint64_t delay) noexcept {
  return delay >= ~std::uint64_t{0} - now ? ~std::uint64_t{0} : now + delay;
}

}  // namespace vpci::engine
