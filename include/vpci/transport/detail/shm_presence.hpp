// vpci/transport/detail/shm_presence.hpp (hosted, Linux, not public API): presence words. A presence word
// is a 32-bit word in shared memory that says whether one party (a device, a driver) is there. Its holder
// registers it with the kernel as a robust futex, so the kernel itself marks it gone while the holding
// process exits, however it exits (crash, SIGKILL, exec, clean exit), and wakes a sleeper on it: no
// cooperation from the dying process, no polling, no process IDs to look up.
//
// Values (the kernel's robust-futex ABI, Documentation/locking/robust-futex-ABI.rst):
//   0                                   unclaimed: nobody ever held it
//   TID [| FUTEX_WAITERS]               present: held by thread TID (as numbered in the holder's PID
//                                       namespace; nobody else interprets the number)
//   FUTEX_OWNER_DIED [| FUTEX_WAITERS]  gone: the holder's process exited (set by the kernel), the holder
//                                       released it, or someone replaced the object
// FUTEX_WAITERS says that someone sleeps on the word. The kernel wakes one sleeper when it marks the
// holder dead; every sleeper that wakes to a gone word wakes all the others.
#pragma once

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <thread>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <vpci/error.hpp>
#include <vpci/transport/detail/futex.hpp>
#include <vpci/transport/detail/helper_thread.hpp>

namespace vpci::detail {

enum class presence { unclaimed, present, gone };

[[nodiscard]] constexpr presence classify_presence(std::uint32_t value) noexcept {
  if ((value & FUTEX_OWNER_DIED) != 0) return presence::gone;
  if ((value & FUTEX_TID_MASK) != 0) return presence::present;
  return presence::unclaimed;
}

[[nodiscard]] inline presence load_presence(std::uint32_t& word) noexcept {
  return classify_presence(std::atomic_ref<std::uint32_t>(word).load(std::memory_order_seq_cst));
}

// Marks the word gone, whoever holds it, and wakes every sleeper: the object was replaced. A holder that
// later releases or dies finds another value than its TID there and leaves it alone.
inline void mark_presence_gone(std::uint32_t& word) noexcept {
  std::atomic_ref<std::uint32_t>(word).store(FUTEX_OWNER_DIED, std::memory_order_seq_cst);
  futex_wake_all(word);
}

// A sleeper re-checks at least this often. The kernel wakes only one sleeper when a holder dies and that
// one passes the wake on; should it be killed before it can, the others still learn within this bound.
inline constexpr std::chrono::seconds presence_recheck{1};

// Sleeps while `word` is present (returns at once otherwise), at most presence_recheck. Spurious returns
// are harmless: the caller re-checks.
inline void sleep_while_present(std::uint32_t& word) noexcept {
  std::atomic_ref<std::uint32_t> ref(word);
  std::uint32_t value = ref.load(std::memory_order_seq_cst);
  while (classify_presence(value) == presence::present) {
    if ((value & FUTEX_WAITERS) == 0 &&
        !ref.compare_exchange_weak(value, value | FUTEX_WAITERS, std::memory_order_seq_cst)) {
      continue;  // `value` was reloaded
    }
    const ::timespec recheck{static_cast<::time_t>(presence_recheck.count()), 0};
    (void)futex_wait(word, value | FUTEX_WAITERS, &recheck);
    break;
  }
  if (load_presence(word) == presence::gone) futex_wake_all(word);  // pass the kernel's single wake on
}

// Holds one presence word for this process: claims the first of its candidates that is unclaimed or gone
// and keeps it present until release() or destruction, or until the process exits.
//
// The word is registered as a robust futex of a thread dedicated to it: the kernel keeps one robust list
// per thread and processes it when that thread exits, so the holder must be a thread that lives exactly
// as long as the presence (the thread that creates a view may end long before the view). The thread
// replaces the C library's robust-list registration for itself only; it never locks a robust pthread
// mutex, which is what that registration is for. Across fork() the thread is not copied, so a child never
// keeps its parent's presence alive, and a child that destroys a copy of a holder leaves the word alone.
//
// The kernel marks a listed word gone when it holds the exiting thread's number in that thread's own PID
// namespace, and a driver of another PID namespace may hold a word under the same number. So the thread's
// list names a word only while the thread holds it, or is claiming or letting go of it (the ABI's pending
// operation: a few instructions, which matter only if the process dies in them), and is empty when the
// thread ends: after a claim that found nothing, and after it let go of its word.
class presence_holder {
 public:
  // Throws boost::system::system_error: vpci::errc::insufficient_resources when every candidate is
  // present, the errno of set_robust_list (a kernel without robust futexes) or of thread creation.
  explicit presence_holder(std::span<std::uint32_t* const> candidates)
      : state_(std::make_unique<holder_state>()), owner_(::getpid()) {
    holder_state& state = *state_;
    std::unique_lock lock(state.mutex);
    thread_ = start_helper_thread([&state, candidates] { run(state, candidates); }, "start the presence thread");
    state.changed.wait(lock, [&state] { return state.current != stage::starting; });
    if (state.current == stage::failed) {
      const boost::system::error_code ec =
          state.error != 0 ? boost::system::error_code(state.error, boost::system::system_category())
                           : boost::system::error_code(errc::insufficient_resources);
      lock.unlock();
      thread_->join();
      thread_.reset();
      throw boost::system::system_error(ec, "claim a presence word");
    }
  }
  presence_holder(const presence_holder&) = delete;
  presence_holder& operator=(const presence_holder&) = delete;
  ~presence_holder() { release(); }

  [[nodiscard]] bool made_in_this_process() const noexcept { return ::getpid() == owner_; }
  // The word claimed: one of the candidates.
  [[nodiscard]] std::uint32_t* word() const noexcept { return state_->word; }

  // Marks the word gone (if it still holds this holder's TID), wakes its sleepers and ends the thread.
  // Idempotent. In a process forked from the one that claimed the word, only forgets the thread and its
  // state: the thread does not exist there, and the copied mutex and condition variable still count it
  // (destroying them would wait for it for ever).
  void release() noexcept {
    if (!thread_) return;
    if (!made_in_this_process()) {
      (void)thread_.release();
      (void)state_.release();
      return;
    }
    holder_state& state = *state_;
    {
      std::lock_guard lock(state.mutex);
      state.current = stage::stopping;
    }
    state.changed.notify_all();
    thread_->join();  // the thread lets go of the word: only it can empty its robust list first
    thread_.reset();
  }

 private:
  enum class stage { starting, holding, failed, stopping };

  // What the holder thread shares with its owner, at a stable address the kernel's list can point into.
  struct holder_state {
    ::robust_list_head head{};
    ::robust_list entry{};
    std::mutex mutex;
    std::condition_variable changed;
    stage current = stage::starting;
    std::uint32_t* word = nullptr;
    int error = 0;
  };

  // The kernel reads the list when the thread ends, which may be at any instruction (its process killed):
  // the list's stores must reach memory in program order, around each other and the word's updates.
  static void in_order() noexcept { std::atomic_signal_fence(std::memory_order_seq_cst); }

  // Points the list's one entry at `word` (the kernel finds the word at entry + futex_offset).
  static void point_entry_at(holder_state& state, std::uint32_t& word) noexcept {
    state.head.futex_offset = static_cast<long>(reinterpret_cast<std::uintptr_t>(&word) -
                                                reinterpret_cast<std::uintptr_t>(&state.entry));
  }

  // Claims `word` if it is not present. Meanwhile the word is the list's pending operation, as the ABI has
  // it for an acquisition: covered from the instant it holds this TID, and dropped at once if it does not.
  static bool try_claim(holder_state& state, std::uint32_t& word, std::uint32_t tid) noexcept {
    point_entry_at(state, word);
    in_order();
    state.head.list_op_pending = &state.entry;
    in_order();
    std::atomic_ref<std::uint32_t> ref(word);
    std::uint32_t value = ref.load(std::memory_order_seq_cst);
    bool claimed = false;
    while (!claimed && classify_presence(value) != presence::present) {
      claimed = ref.compare_exchange_weak(value, tid, std::memory_order_seq_cst);
    }
    in_order();
    if (claimed) state.head.list.next = &state.entry;
    in_order();
    state.head.list_op_pending = nullptr;
    in_order();
    return claimed;
  }

  // Marks `word` gone if it still holds this TID (a replacer may have marked it already) and wakes its
  // sleepers. The entry leaves the list first and stays pending only while the word changes, as the ABI
  // has it for a release: once the word is gone anyone may claim it, under any number.
  static void let_go(holder_state& state, std::uint32_t& word, std::uint32_t tid) noexcept {
    state.head.list_op_pending = &state.entry;
    in_order();
    state.head.list.next = &state.head.list;
    in_order();
    std::atomic_ref<std::uint32_t> ref(word);
    std::uint32_t value = ref.load(std::memory_order_seq_cst);
    while ((value & FUTEX_TID_MASK) == tid && (value & FUTEX_OWNER_DIED) == 0) {
      if (ref.compare_exchange_weak(value, FUTEX_OWNER_DIED, std::memory_order_seq_cst)) break;
    }
    in_order();
    state.head.list_op_pending = nullptr;
    in_order();
    futex_wake_all(word);
  }

  // The holder thread: registers its robust list (empty) first, so that a word is covered from the instant
  // it holds this thread's TID, then claims, reports, waits until released and lets go.
  static void run(holder_state& state, std::span<std::uint32_t* const> candidates) {
    const auto tid = static_cast<std::uint32_t>(::syscall(SYS_gettid));
    state.head.list.next = &state.head.list;
    state.entry.next = &state.head.list;
    state.head.list_op_pending = nullptr;
    int error = 0;
    std::uint32_t* claimed = nullptr;
    if (::syscall(SYS_set_robust_list, &state.head, sizeof state.head) != 0) {
      error = errno;
    } else {
      for (std::uint32_t* candidate : candidates) {
        if (try_claim(state, *candidate, tid)) {
          claimed = candidate;
          break;
        }
      }
    }
    std::unique_lock lock(state.mutex);
    state.word = claimed;
    state.error = error;
    state.current = claimed != nullptr ? stage::holding : stage::failed;
    state.changed.notify_all();
    if (claimed == nullptr) return;
    state.changed.wait(lock, [&state] { return state.current == stage::stopping; });
    lock.unlock();
    let_go(state, *claimed, tid);
  }

  std::unique_ptr<holder_state> state_;
  ::pid_t owner_;
  std::unique_ptr<std::thread> thread_;
};

}  // namespace vpci::detail
