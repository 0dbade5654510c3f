// Times after `now` (freestanding), in nanoseconds of the caller's clock, that never wrap: the engines'
// and endpoints' one rule for them.
// - A wake time is held at no_deadline (all ones). A wake time that wrapped lay before `now`: the engine
//   read the window again at once and never handed back a wait, so a pump on a synchronous transport
//   never returned (a test clock run out to its end gets there; steady_clock stops at 2^63). Held at
//   no_deadline, the engine waits for the peer's signal alone, as an endpoint already does for a wait
//   without an end.
// - A deadline is held at no_deadline - 1: an operation or offer given a deadline keeps one (however far),
//   where no_deadline would read as "nothing to time out" and a wrapped one would fail it at once.
#pragma once

#include <vpci/protocol/cxx20.hpp>

#include <cstdint>

namespace vpci::engine {

// A time that is not set: no deadline, no wake.
inline constexpr std::uint64_t no_deadline = ~std::uint64_t{0};

[[nodiscard]] constexpr std::uint64_t time_after(std::uint64_t now, std::uint64_t delay) noexcept {
  return delay >= no_deadline - now ? no_deadline : now + delay;
}

[[nodiscard]] constexpr std::uint64_t deadline_after(std::uint64_t now, std::uint64_t span) noexcept {
  return span >= no_deadline - now ? no_deadline - 1 : now + span;
}

// `span` taken `times` times, held at no_deadline: a tolerance of many intervals that passes the clock's
// range is one that never runs out, not one that wrapped to a short time.
[[nodiscard]] constexpr std::uint64_t span_times(std::uint64_t span, std::uint32_t times) noexcept {
  return times != 0 && span > no_deadline / times ? no_deadline : span * times;
}

}  // namespace vpci::engine
