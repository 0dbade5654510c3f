// vpci/transport/detail/futex.hpp (hosted, Linux, not public API): the futex operations the shared-memory
// transport sleeps and wakes with. Shared futexes (no FUTEX_PRIVATE_FLAG): the words live in memory that
// other processes map, and a wake in one process must reach sleepers in another.
#pragma once

#include <vpci/protocol/cxx20.hpp>

#include <climits>
#include <cstdint>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

namespace vpci::detail {

// Sleeps while `word` holds `expected`, until a wake, a signal or `timeout` (relative; nullptr: none).
// Returns at once when the word already differs. Callers re-check their condition after every return.
inline long futex_wait(std::uint32_t& word, std::uint32_t expected, const ::timespec* timeout) noexcept {
  return ::syscall(SYS_futex, &word, FUTEX_WAIT, expected, timeout, nullptr, 0);
}

inline void futex_wake_all(std::uint32_t& word) noexcept {
  ::syscall(SYS_futex, &word, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

}  // namespace vpci::detail
