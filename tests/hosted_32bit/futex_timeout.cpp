// The shared-memory transport's timed futex wait, on a 32-bit host built with a 64-bit time_t: a wait of
// less than a second must sleep until woken, not return at once. SYS_futex read the C library's 16-byte
// timespec as {low half of the seconds, high half}: {0 s, 999 ms} was a timeout of 0, and every sleep of
// the transport spun. A waker thread wakes the word until the waiter returns, so a correct wait ends
// woken (0) within microseconds; nothing here waits for the timeout unless the waker is starved for
// most of a second, and a wait that the kernel ended at its timeout is told apart by its length; at least
// one round must end woken (a wake that reached no one would leave every round to its timeout).
//
// Built a second time with VPCI_TEST_ONLY_FUTEX_TIME64: as on a 32-bit architecture ported after the
// time64 work (riscv32, LoongArch32), whose headers define SYS_futex_time64 and no SYS_futex, waits and
// wakes must go through the one call there is (the header did not compile there).
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <thread>

// After the standard headers: libstdc++'s atomic waits use SYS_futex where there is one.
#if defined(VPCI_TEST_ONLY_FUTEX_TIME64)
#include <sys/syscall.h>
#undef SYS_futex
#endif

#include <vpci/transport/detail/futex.hpp>

int main() {
  std::printf("sizeof(time_t) %zu, sizeof(long) %zu\n", sizeof(::time_t), sizeof(long));
  int failures = 0;
  // The kernel must read the timeout as it was given, which a deadline alone cannot show without waiting
  // for it (and the waker below often wins the race with a wait that returns at once): {0 s, 10^9 ns} is
  // no valid timespec and is refused with EINVAL before anything waits. Read as two 32-bit fields, it
  // was {0, 0}, a valid timeout of zero (ETIMEDOUT).
  {
    std::uint32_t word = 0;
    const ::timespec out_of_range{0, 1'000'000'000};
    const long result = vpci::detail::futex_wait(word, 0, &out_of_range);
    const int error = errno;
    if (result != -1 || error != EINVAL) {
      std::printf("FAIL: a timeout of {0 s, 1e9 ns} returned %ld (errno %d), not EINVAL: the kernel read another timespec\n",
                  result, error);
      ++failures;
    }
  }
  int woken_rounds = 0;
  for (int round = 0; round < 20; ++round) {
    std::uint32_t word = 0;
    std::atomic<bool> returned{false};
    std::thread waker([&] {
      while (!returned.load()) {
        vpci::detail::futex_wake_all(word);
        std::this_thread::yield();
      }
    });
    const ::timespec almost_a_second{0, 999'000'000};
    const auto start = std::chrono::steady_clock::now();
    const long result = vpci::detail::futex_wait(word, 0, &almost_a_second);
    const int error = errno;
    const auto waited = std::chrono::steady_clock::now() - start;
    returned = true;
    waker.join();
    const bool woken = result == 0;
    woken_rounds += woken ? 1 : 0;
    const bool timed_out_in_full = result == -1 && error == ETIMEDOUT && waited >= std::chrono::milliseconds(900);
    if (!woken && !timed_out_in_full) {
      std::printf("FAIL: round %d: futex_wait returned %ld (errno %d) after %lld us, neither woken nor at its timeout\n",
                  round, result, error,
                  static_cast<long long>(std::chrono::duration_cast<std::chrono::microseconds>(waited).count()));
      ++failures;
    }
  }
  if (woken_rounds == 0) {
    std::printf("FAIL: no round ended woken: the waker's wakes reached no one\n");
    ++failures;
  }
  if (failures == 0)
    std::printf("futex_timeout: 20 timed waits of 999 ms ended woken or at their timeout, %d woken\n", woken_rounds);
  return failures == 0 ? 0 : 1;
}
