// The endpoints' timing policies: virtual time moves only when the test says so, and timers complete
// exactly when it reaches them.
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <functional>
#include <utility>
#include <vector>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/execution.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <vpci/asio/timing.hpp>

#include "virtual_time.hpp"

BOOST_AUTO_TEST_SUITE(timing_test)

using namespace std::chrono_literals;
using vpci::test::run_ready;


BOOST_AUTO_TEST_CASE(manual_timers_complete_when_virtual_time_reaches_them_in_expiry_order) {
  boost::asio::io_context io;
  vpci::manual_timing clock;
  auto early = clock.make_timer(io.get_executor());
  auto late = clock.make_timer(io.get_executor());
  std::vector<int> fired;
  late.expires_at(2'000);
  late.async_wait([&](boost::system::error_code ec) { fired.push_back(ec ? -2 : 2); });
  early.expires_at(1'000);
  early.async_wait([&](boost::system::error_code ec) { fired.push_back(ec ? -1 : 1); });
  BOOST_TEST(clock.armed() == 2u);
  BOOST_TEST(clock.next_expiry() == 1'000u);
  run_ready(io);
  BOOST_TEST(fired.empty());
  clock.advance(std::chrono::nanoseconds(999));
  run_ready(io);
  BOOST_TEST(fired.empty());
  clock.advance(std::chrono::nanoseconds(1'001));
  run_ready(io);
  BOOST_TEST(fired == (std::vector<int>{1, 2}), boost::test_tools::per_element());
  BOOST_TEST(clock.now() == 2'000u);
  BOOST_TEST(clock.armed() == 0u);
  BOOST_TEST(clock.next_expiry() == vpci::never);
}

BOOST_AUTO_TEST_CASE(cancel_and_rearm_abort_the_wait_in_progress) {
  boost::asio::io_context io;
  vpci::manual_timing clock;
  auto timer = clock.make_timer(io.get_executor());
  std::vector<boost::system::error_code> results;
  timer.expires_at(100);
  timer.async_wait([&](boost::system::error_code ec) { results.push_back(ec); });
  BOOST_TEST(timer.cancel() == 1u);
  timer.expires_at(200);
  timer.async_wait([&](boost::system::error_code ec) { results.push_back(ec); });
  timer.expires_at(300);  // re-arming aborts the wait in progress, as Asio's timers do
  timer.async_wait([&](boost::system::error_code ec) { results.push_back(ec); });
  clock.advance_to(1'000);
  run_ready(io);
  BOOST_REQUIRE(results.size() == 3u);
  BOOST_TEST((results[0] == boost::asio::error::operation_aborted));
  BOOST_TEST((results[1] == boost::asio::error::operation_aborted));
  BOOST_TEST(!results[2]);
}

BOOST_AUTO_TEST_CASE(an_expired_timer_completes_at_once_but_never_inline) {
  boost::asio::io_context io;
  vpci::manual_timing clock;
  clock.advance(5ms);
  auto timer = clock.make_timer(io.get_executor());
  timer.expires_at(1'000);
  bool fired = false;
  timer.async_wait([&](boost::system::error_code ec) { fired = !ec; });
  BOOST_TEST(!fired);
  run_ready(io);
  BOOST_TEST(fired);
}

BOOST_AUTO_TEST_CASE(sleeping_moves_virtual_time_and_never_backwards) {
  vpci::manual_timing clock;
  const vpci::manual_timing copy = clock;  // copies share the clock
  clock.sleep_until(50);
  BOOST_TEST(copy.now() == 50u);
  clock.sleep_until(10);
  BOOST_TEST(copy.now() == 50u);
  BOOST_TEST(vpci::deadline_after(vpci::never - 5, 1s) == vpci::never - 1);
  BOOST_TEST(vpci::to_nanoseconds(-3ns) == 0u);
}

// A deadline is never the "no deadline" value, even where now + span is exactly that value: it would read
// as nothing to time out. A wake time may be it (nothing to wake for). Below it both are the plain sum.
BOOST_AUTO_TEST_CASE(a_span_ending_exactly_at_no_deadline_is_held_below_it) {
  using vpci::engine::no_deadline;
  BOOST_TEST(vpci::engine::deadline_after(0, no_deadline) == no_deadline - 1);
  BOOST_TEST(vpci::engine::deadline_after(5, no_deadline - 5) == no_deadline - 1);  // the exact sum
  BOOST_TEST(vpci::engine::deadline_after(5, no_deadline - 6) == no_deadline - 1);  // the sum itself
  BOOST_TEST(vpci::engine::deadline_after(5, no_deadline - 7) == no_deadline - 2);
  BOOST_TEST(vpci::engine::time_after(5, no_deadline - 5) == no_deadline);
  BOOST_TEST(vpci::engine::time_after(5, no_deadline - 6) == no_deadline - 1);
}

BOOST_AUTO_TEST_CASE(a_destroyed_timer_aborts_its_wait) {
  boost::asio::io_context io;
  vpci::manual_timing clock;
  boost::system::error_code result;
  {
    auto timer = clock.make_timer(io.get_executor());
    timer.expires_at(100);
    timer.async_wait([&](boost::system::error_code ec) { result = ec; });
  }
  BOOST_TEST(clock.armed() == 0u);
  run_ready(io);
  BOOST_TEST((result == boost::asio::error::operation_aborted));
}

// Timers due at the same instant complete in the order they were armed, whatever order they were created
// or set in.
BOOST_AUTO_TEST_CASE(virtual_timers_due_at_the_same_instant_complete_in_arming_order) {
  boost::asio::io_context io;
  vpci::manual_timing clock;
  auto a = clock.make_timer(io.get_executor());
  auto b = clock.make_timer(io.get_executor());
  std::vector<char> fired;
  b.expires_at(1'000);
  a.expires_at(1'000);
  b.async_wait([&](boost::system::error_code) { fired.push_back('b'); });
  a.async_wait([&](boost::system::error_code) { fired.push_back('a'); });
  clock.advance(std::chrono::nanoseconds(1'000));
  run_ready(io);
  BOOST_TEST(fired == (std::vector<char>{'b', 'a'}), boost::test_tools::per_element());
}

namespace {
// An executor whose post first runs `hook` once (a completion posted while the clock is asked about
// itself: another thread, or a handler's executor that calls back into the clock), then posts to `io`.
struct calling_back_executor {
  boost::asio::io_context* io;
  std::function<void()>* hook;
  boost::asio::io_context& query(boost::asio::execution::context_t) const noexcept { return *io; }
  static constexpr boost::asio::execution::blocking_t query(boost::asio::execution::blocking_t) noexcept {
    return boost::asio::execution::blocking.never;
  }
  template <class F>
  void execute(F f) const {
    if (*hook) std::exchange(*hook, nullptr)();
    boost::asio::post(*io, std::move(f));
  }
  bool operator==(const calling_back_executor&) const noexcept = default;
};
}  // namespace

// A wait whose completion is being posted has left the clock for every caller but the poster: it is not
// armed, not the next expiry, and an advance meanwhile does not post it a second time.
BOOST_AUTO_TEST_CASE(a_virtual_timer_wait_being_posted_is_neither_armed_nor_due_nor_posted_again) {
  boost::asio::io_context io;
  vpci::manual_timing clock;
  auto timer = clock.make_timer(io.get_executor());
  int completions = 0;
  std::size_t armed_meanwhile = 99;
  std::uint64_t next_meanwhile = 0;
  std::function<void()> hook = [&] {
    armed_meanwhile = clock.armed();
    next_meanwhile = clock.next_expiry();
    clock.advance(std::chrono::nanoseconds(0));
  };
  timer.expires_at(1'000);
  timer.async_wait(boost::asio::bind_executor(calling_back_executor{&io, &hook}, [&](boost::system::error_code) { ++completions; }));
  clock.advance(std::chrono::nanoseconds(1'000));
  run_ready(io);
  BOOST_TEST(completions == 1);
  BOOST_TEST(armed_meanwhile == 0u);
  BOOST_TEST(next_meanwhile == vpci::never);
  BOOST_TEST(clock.armed() == 0u);
}

BOOST_AUTO_TEST_CASE(steady_timing_is_monotonic) {
  const std::uint64_t a = vpci::steady_timing::now();
  const std::uint64_t b = vpci::steady_timing::now();
  BOOST_TEST(b >= a);
}

BOOST_AUTO_TEST_SUITE_END()  // timing_test
