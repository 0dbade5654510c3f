// vpci/transport/detail/futex.hpp (hosted, Linux, not public API): the futex operations the shared-memory
// transport sleeps and wakes with. Shared futexes (no FUTEX_PRIVATE_FLAG): the words live in memory that
// other processes map, and a wake in one process must reach sleepers in another.
#pragma once

#include <vpci/protocol/cxx20.hpp>

#include <cerrno>
#include <climits>
#include <cstdint>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

namespace vpci::detail {

// The futex call of wakes, and of waits where the C library's timespec is the kernel's. 32-bit
// architectures ported after the time64 work (riscv32, LoongArch32) have no SYS_futex, only
// SYS_futex_time64, which every kernel of theirs provides.
#if defined(SYS_futex)
inline constexpr long futex_syscall = SYS_futex;
#else
inline constexpr long futex_syscall = SYS_futex_time64;
#endif

// Sleeps while `word` holds `expected`, until a wake, a signal or `timeout` (relative; nullptr: none).
// Returns at once when the word already differs. Callers re-check their condition after every return.
//
// The kernel reads the timeout as its own timespec, not the C library's. Where SYS_futex_time64 exists (a
// 32-bit architecture), SYS_futex takes a pair of 32-bit `long`s: the C library's ::timespec only with a
// 32-bit time_t. A program built with a 64-bit time_t there (_TIME_BITS=64: Debian 13's and Ubuntu
// 24.04's armhf, musl, Yocto's time64) has a 16-byte ::timespec that SYS_futex read as {low half of the
// seconds, high half}: a wait of less than a second waited not at all, and the transport's sleeps spun.
// Such a program uses SYS_futex_time64, which takes two 64-bit fields (Linux 5.1 on), and SYS_futex with
// the seconds held at INT32_MAX on a kernel without it (where the architecture has SYS_futex at all).
// Elsewhere (64-bit hosts, and x32, whose `long` is 32 bits but whose SYS_futex takes the C library's
// 64-bit fields) SYS_futex takes the C library's ::timespec as it is.
inline long futex_wait(std::uint32_t& word, std::uint32_t expected, const ::timespec* timeout) noexcept {
#if defined(SYS_futex_time64)
  if constexpr (sizeof(timeout->tv_sec) != sizeof(long)) {
    struct {
      std::int64_t tv_sec;
      std::int64_t tv_nsec;
    } wide{};
    if (timeout != nullptr) wide = {timeout->tv_sec, timeout->tv_nsec};
    const long result = ::syscall(SYS_futex_time64, &word, FUTEX_WAIT, expected, timeout != nullptr ? &wide : nullptr,
                                  nullptr, 0);
#if defined(SYS_futex)
    if (result == 0 || errno != ENOSYS) return result;
    struct {
      long tv_sec;
      long tv_nsec;
    } narrow{};
    if (timeout != nullptr)
      narrow = {timeout->tv_sec > INT32_MAX ? long{INT32_MAX} : static_cast<long>(timeout->tv_sec),
                static_cast<long>(timeout->tv_nsec)};
    return ::syscall(SYS_futex, &word, FUTEX_WAIT, expected, timeout != nullptr ? &narrow : nullptr, nullptr, 0);
#else
    return result;
#endif
  }
#endif
  return ::syscall(futex_syscall, &word, FUTEX_WAIT, expected, timeout, nullptr, 0);
}

inline void futex_wake_all(std::uint32_t& word) noexcept {
  ::syscall(futex_syscall, &word, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

}  // namespace vpci::detail
