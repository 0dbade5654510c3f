// Counting the threads asleep on a futex word without waking any, for the shared-memory transport's
// tests: that a helper thread sleeps before the test acts, and that a wake left none asleep, are then
// exact checks instead of waits on real time.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <thread>

namespace vpci::test {

// How many threads sleep on `word` while it holds `value`: FUTEX_CMP_REQUEUE onto the same word moves every
// sleeper where it was and returns how many it moved (-1 when the word no longer holds `value`).
inline long futex_sleepers(std::uint32_t& word, std::uint32_t value) {
  return ::syscall(SYS_futex, &word, FUTEX_CMP_REQUEUE, 0, static_cast<long>(INT_MAX), &word, value);
}

// The same, whatever the word holds now.
inline long futex_sleepers(std::uint32_t& word) {
  return futex_sleepers(word, std::atomic_ref<std::uint32_t>(word).load());
}

// Waits until `count` threads sleep on `word`, for at most `guard` (a failure guard: a passing test ends
// it as soon as the helper threads are asleep). Whether they do.
inline bool sleepers_reach(std::uint32_t& word, long count, std::chrono::nanoseconds guard) {
  const auto give_up = std::chrono::steady_clock::now() + guard;
  while (futex_sleepers(word) != count) {
    if (std::chrono::steady_clock::now() >= give_up) return false;
    std::this_thread::yield();
  }
  return true;
}

}  // namespace vpci::test
