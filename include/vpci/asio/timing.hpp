// Time for the endpoints: a timing policy says what "now" is, makes the timers the endpoints arm, and
// blocks the synchronous forms. Every endpoint takes one as a template parameter:
//
//   vpci::steady_timing   real time: std::chrono::steady_clock and boost::asio::steady_timer (default).
//   vpci::manual_timing   virtual time for tests: it moves only when the test calls advance(), and a
//                         timer whose expiry is reached completes then (posted to its executor). A
//                         synchronous form that would sleep moves virtual time instead, so nothing in a
//                         test ever waits on real time for a deadline. A pending virtual wait does not
//                         count as work: io_context::run() returns when only virtual timers remain,
//                         and the test advances time, then runs again.
//
// A policy T provides:
//   std::uint64_t T::now() const                  monotonic time in nanoseconds
//   T::timer_type T::make_timer(executor) const   a timer with expires_at(ns), async_wait(handler) and
//                                                 cancel(); a cancelled or re-armed wait completes with
//                                                 boost::asio::error::operation_aborted
//   void T::sleep_until(std::uint64_t ns) const   blocks the calling thread until `ns`
//   static constexpr bool T::is_virtual           true when time is not real: a blocking wait for a
//                                                 peer then only looks (a zero timeout) and sleeps
//                                                 virtually
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

#include <vpci/engine/time_after.hpp>
#include <vpci/transport/default_token.hpp>

namespace vpci {

// "Never": a deadline or expiry that is not set.
inline constexpr std::uint64_t never = engine::no_deadline;

// Nanoseconds of a duration, clamped to [0, never).
inline std::uint64_t to_nanoseconds(std::chrono::nanoseconds d) noexcept {
  return d.count() <= 0 ? 0 : static_cast<std::uint64_t>(d.count());
}
// `now + d`, held at never - 1 (engine::deadline_after).
inline std::uint64_t deadline_after(std::uint64_t now, std::chrono::nanoseconds d) noexcept {
  return engine::deadline_after(now, to_nanoseconds(d));
}

// Real time.
struct steady_timing {
  // Waits of the synchronous forms take real time.
  static constexpr bool is_virtual = false;
  class timer_type {
   public:
    explicit timer_type(const boost::asio::any_io_executor& executor) : timer_(executor) {}
    void expires_at(std::uint64_t ns) {
      timer_.expires_at(std::chrono::steady_clock::time_point(
          std::chrono::nanoseconds(static_cast<std::int64_t>(std::min<std::uint64_t>(ns, never >> 1)))));
    }
    template <class CompletionToken = vpci::default_completion_token_t<boost::asio::any_io_executor>>
    auto async_wait(CompletionToken&& token = CompletionToken{}) {
      return timer_.async_wait(std::forward<CompletionToken>(token));
    }
    std::size_t cancel() { return timer_.cancel(); }

   private:
    boost::asio::steady_timer timer_;
  };

  [[nodiscard]] static std::uint64_t now() noexcept {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count());
  }
  [[nodiscard]] static timer_type make_timer(const boost::asio::any_io_executor& executor) { return timer_type(executor); }
  static void sleep_until(std::uint64_t ns) {
    const std::uint64_t current = now();
    // Held at the longest sleep a duration holds: a time more than 2^63 ns away (never) is not a negative
    // duration, which sleeps not at all.
    if (ns > current)
      std::this_thread::sleep_for(std::chrono::nanoseconds(
          static_cast<std::int64_t>(std::min<std::uint64_t>(ns - current, std::numeric_limits<std::int64_t>::max()))));
  }
};

// Virtual time. Copies share one clock (the endpoints keep a copy; the test keeps the original).
// Thread-safe: the clock and its timers may be used from several threads.
// A completion that cannot be posted (its executor runs out of memory) is not lost: its wait stays armed,
// the call that tried (advance, cancel, expires_at) throws, and a later one posts it; a timer destroyed
// then leaves its wait due at once with operation_aborted, for the next advance. No wait completes twice.
class manual_timing {
  // The user's handler and its executor, shared between the armed wait and the posted call: a post that
  // throws leaves the wait holding the handler, so it can be posted again.
  class completion {
   public:
    template <class Handler, class Executor>
    completion(Handler handler, Executor executor)
        : impl_(std::make_shared<model<Handler, Executor>>(std::move(handler), std::move(executor))) {}
    void post(boost::system::error_code ec) const { impl_->post(impl_, ec); }

   private:
    struct concept_type {
      virtual void post(const std::shared_ptr<concept_type>& self, boost::system::error_code ec) = 0;
      virtual ~concept_type() = default;
    };
    template <class Handler, class Executor>
    struct model final : concept_type {
      model(Handler h, Executor e) : handler(std::move(h)), executor(std::move(e)) {}
      void post(const std::shared_ptr<concept_type>& self, boost::system::error_code ec) override {
        boost::asio::post(executor, [self, this, ec]() mutable { std::move(handler)(ec); });
      }
      Handler handler;
      Executor executor;
    };
    std::shared_ptr<concept_type> impl_;
  };
  struct waiter {
    std::uint64_t expiry;
    std::uint64_t timer_id;  // 0: the timer is gone (its wait completes with `result` at the next advance)
    std::uint64_t order;     // arming order: equal expiries complete in the order they were armed; unique
    completion handler;
    boost::system::error_code result{};
    bool posting{false};  // being posted by some call: no other call takes it
  };
  struct state {
    std::mutex mutex;
    std::uint64_t now{0};
    std::uint64_t next_timer_id{1};
    std::uint64_t next_order{0};
    std::vector<waiter> waiters;
  };

  // Posts, one at a time and outside the lock, the waits `pick` chooses (the first it prefers among those
  // no other call is posting), each with `result(w)`; a wait leaves the list only once posted. A post that
  // throws puts its wait back as it was and the exception goes on. Returns how many were posted.
  template <class Pick, class Result>
  static std::size_t post_each(state& clock, Pick pick, Result result) {
    std::size_t posted = 0;
    for (;;) {
      std::unique_lock lock(clock.mutex);
      auto chosen = clock.waiters.end();
      for (auto it = clock.waiters.begin(); it != clock.waiters.end(); ++it)
        if (!it->posting && pick(*it) && (chosen == clock.waiters.end() || pick.before(*it, *chosen))) chosen = it;
      if (chosen == clock.waiters.end()) return posted;
      chosen->posting = true;
      const completion handler = chosen->handler;
      const boost::system::error_code ec = result(*chosen);
      const std::uint64_t order = chosen->order;
      lock.unlock();
      bool done = false;
      try {
        handler.post(ec);
        done = true;
      } catch (...) {
        settle(clock, order, done);
        throw;
      }
      settle(clock, order, done);
      ++posted;
    }
  }
  // Removes the wait `order` once posted, or makes it available again.
  static void settle(state& clock, std::uint64_t order, bool posted) noexcept {
    std::lock_guard lock(clock.mutex);
    auto& all = clock.waiters;
    const auto it = std::find_if(all.begin(), all.end(), [&](const waiter& w) { return w.order == order; });
    if (it == all.end()) return;
    if (posted)
      all.erase(it);
    else
      it->posting = false;
  }
  // Earliest expiry first, then arming order.
  static bool earlier(const waiter& a, const waiter& b) noexcept {
    return a.expiry != b.expiry ? a.expiry < b.expiry : a.order < b.order;
  }

 public:
  class timer_type {
   public:
    timer_type(std::shared_ptr<state> clock, boost::asio::any_io_executor executor)
        : clock_(std::move(clock)), executor_(std::move(executor)) {
      std::lock_guard lock(clock_->mutex);
      id_ = clock_->next_timer_id++;
    }
    timer_type(const timer_type&) = delete;
    timer_type& operator=(const timer_type&) = delete;
    ~timer_type() {
      try {
        (void)cancel();
      } catch (...) {
        // What could not be posted completes with operation_aborted at the next advance.
        std::lock_guard lock(clock_->mutex);
        for (waiter& w : clock_->waiters)
          if (w.timer_id == id_) {
            w.timer_id = 0;
            w.expiry = 0;
            w.result = boost::asio::error::operation_aborted;
          }
      }
    }

    // Sets the expiry; a wait in progress completes with operation_aborted (as Asio's timers do).
    void expires_at(std::uint64_t ns) {
      (void)cancel();
      expiry_ = ns;
    }
    // Completion: void(boost::system::error_code): success when virtual time reaches the expiry (at
    // once, posted, when it already has), operation_aborted when cancelled or re-armed.
    template <class CompletionToken = vpci::default_completion_token_t<boost::asio::any_io_executor>>
    auto async_wait(CompletionToken&& token = CompletionToken{}) {
      return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code)>(
          [this](auto handler) {
            auto executor = boost::asio::get_associated_executor(handler, executor_);
            const completion deliver(std::move(handler), std::move(executor));
            std::unique_lock lock(clock_->mutex);
            if (expiry_ <= clock_->now) {
              lock.unlock();
              deliver.post(boost::system::error_code{});  // never run inline
              return;
            }
            clock_->waiters.push_back(waiter{expiry_, id_, clock_->next_order++, deliver});
          },
          token);
    }
    std::size_t cancel() {
      struct mine {
        std::uint64_t id;
        bool operator()(const waiter& w) const noexcept { return w.timer_id == id; }
        static bool before(const waiter& a, const waiter& b) noexcept { return a.order < b.order; }
      };
      return post_each(*clock_, mine{id_}, [](const waiter&) -> boost::system::error_code {
        return boost::asio::error::operation_aborted;
      });
    }

   private:
    std::shared_ptr<state> clock_;
    boost::asio::any_io_executor executor_;
    std::uint64_t id_{0};
    std::uint64_t expiry_{never};
  };

  // The synchronous forms never wait on real time: sleep_until() moves this clock instead.
  static constexpr bool is_virtual = true;

  manual_timing() : state_(std::make_shared<state>()) {}

  [[nodiscard]] std::uint64_t now() const {
    std::lock_guard lock(state_->mutex);
    return state_->now;
  }
  [[nodiscard]] timer_type make_timer(const boost::asio::any_io_executor& executor) const {
    return timer_type(state_, executor);
  }
  // Synchronous forms "sleep" by moving virtual time to `ns` (never backwards).
  void sleep_until(std::uint64_t ns) const { advance_to(ns); }

  // Moves virtual time forward by `d`; timers whose expiry is reached complete (posted to their
  // executors), earliest expiry first. Run the io_context afterwards to deliver them.
  void advance(std::chrono::nanoseconds d) const {
    std::uint64_t target = 0;
    {
      std::lock_guard lock(state_->mutex);
      target = deadline_after(state_->now, d);
    }
    advance_to(target);
  }
  void advance_to(std::uint64_t ns) const {
    std::uint64_t now = 0;
    {
      std::lock_guard lock(state_->mutex);
      if (ns > state_->now) state_->now = ns;
      now = state_->now;
    }
    struct due {
      std::uint64_t now;
      bool operator()(const waiter& w) const noexcept { return w.expiry <= now; }
      static bool before(const waiter& a, const waiter& b) noexcept { return earlier(a, b); }
    };
    (void)post_each(*state_, due{now}, [](const waiter& w) { return w.result; });
  }
  // The earliest expiry of an armed timer, or never: "advance to the next event" in tests.
  [[nodiscard]] std::uint64_t next_expiry() const {
    std::lock_guard lock(state_->mutex);
    std::uint64_t earliest = never;
    for (const waiter& w : state_->waiters)
      if (!w.posting) earliest = std::min(earliest, w.expiry);
    return earliest;
  }
  // How many timer waits are armed.
  [[nodiscard]] std::size_t armed() const {
    std::lock_guard lock(state_->mutex);
    return static_cast<std::size_t>(
        std::count_if(state_->waiters.begin(), state_->waiters.end(), [](const waiter& w) { return !w.posting; }));
  }

 private:
  std::shared_ptr<state> state_;
};

}  // namespace vpci
