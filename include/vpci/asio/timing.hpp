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
class manual_timing {
  // Posts the user's handler to its executor with the result (move-only, type-erased).
  class completion {
   public:
    template <class Function>
    explicit completion(Function f) : impl_(std::make_unique<model<Function>>(std::move(f))) {}
    void operator()(boost::system::error_code ec) && { impl_->call(ec); }

   private:
    struct concept_type {
      virtual void call(boost::system::error_code ec) = 0;
      virtual ~concept_type() = default;
    };
    template <class Function>
    struct model final : concept_type {
      explicit model(Function f) : function(std::move(f)) {}
      void call(boost::system::error_code ec) override { function(ec); }
      Function function;
    };
    std::unique_ptr<concept_type> impl_;
  };
  struct waiter {
    std::uint64_t expiry;
    std::uint64_t timer_id;
    std::uint64_t order;  // arming order: equal expiries complete in the order they were armed
    completion handler;
  };
  struct state {
    std::mutex mutex;
    std::uint64_t now{0};
    std::uint64_t next_timer_id{1};
    std::uint64_t next_order{0};
    std::vector<waiter> waiters;
  };

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
    ~timer_type() { (void)cancel(); }

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
            // The completion is posted to the handler's executor, never run inline.
            completion deliver([executor, h = std::move(handler)](boost::system::error_code ec) mutable {
              boost::asio::post(executor, [h = std::move(h), ec]() mutable { std::move(h)(ec); });
            });
            std::unique_lock lock(clock_->mutex);
            if (expiry_ <= clock_->now) {
              lock.unlock();
              std::move(deliver)(boost::system::error_code{});
              return;
            }
            clock_->waiters.push_back(waiter{expiry_, id_, clock_->next_order++, std::move(deliver)});
          },
          token);
    }
    std::size_t cancel() {
      std::vector<waiter> cancelled;
      {
        std::lock_guard lock(clock_->mutex);
        auto& all = clock_->waiters;
        auto split = std::stable_partition(all.begin(), all.end(), [&](const waiter& w) { return w.timer_id != id_; });
        std::move(split, all.end(), std::back_inserter(cancelled));
        all.erase(split, all.end());
      }
      for (waiter& w : cancelled) post_completion(std::move(w.handler), boost::asio::error::operation_aborted);
      return cancelled.size();
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
    std::vector<waiter> due;
    {
      std::lock_guard lock(state_->mutex);
      if (ns > state_->now) state_->now = ns;
      auto& all = state_->waiters;
      auto split = std::stable_partition(all.begin(), all.end(), [&](const waiter& w) { return w.expiry > state_->now; });
      std::move(split, all.end(), std::back_inserter(due));
      all.erase(split, all.end());
    }
    std::sort(due.begin(), due.end(),
              [](const waiter& a, const waiter& b) { return a.expiry != b.expiry ? a.expiry < b.expiry : a.order < b.order; });
    for (waiter& w : due) post_completion(std::move(w.handler), {});
  }
  // The earliest expiry of an armed timer, or never: "advance to the next event" in tests.
  [[nodiscard]] std::uint64_t next_expiry() const {
    std::lock_guard lock(state_->mutex);
    std::uint64_t earliest = never;
    for (const waiter& w : state_->waiters) earliest = std::min(earliest, w.expiry);
    return earliest;
  }
  // How many timer waits are armed.
  [[nodiscard]] std::size_t armed() const {
    std::lock_guard lock(state_->mutex);
    return state_->waiters.size();
  }

 private:
  static void post_completion(completion handler, boost::system::error_code ec) { std::move(handler)(ec); }

  std::shared_ptr<state> state_;
};

}  // namespace vpci
