// engine::poll_schedule: the adaptive polling rhythm the PF uses for a VF's window on a transport
// without a signal: fast while active, doubling while idle, bounded.
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <vector>

#include <vpci/engine/poll_schedule.hpp>

BOOST_AUTO_TEST_SUITE(poll_schedule_test)

using vpci::engine::poll_schedule;

namespace {

std::vector<std::uint64_t> delays(poll_schedule& schedule, std::initializer_list<bool> activity) {
  std::vector<std::uint64_t> out;
  for (bool active : activity) out.push_back(schedule.after_poll(active));
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(idle_polls_back_off_by_doubling_up_to_the_bound) {
  poll_schedule schedule(1000, 8000);
  const std::vector<std::uint64_t> expected{1000, 2000, 4000, 8000, 8000, 8000};
  BOOST_TEST(delays(schedule, {false, false, false, false, false, false}) == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(activity_brings_the_delay_back_to_fast_for_one_more_idle_poll) {
  poll_schedule schedule(1000, 8000);
  const std::vector<std::uint64_t> expected{1000, 2000, 4000, 1000, 1000, 1000, 2000, 4000};
  BOOST_TEST(delays(schedule, {false, false, false, true, true, false, false, false}) == expected,
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_bound_that_is_not_a_power_of_two_times_fast_is_kept) {
  poll_schedule schedule(3, 10);
  const std::vector<std::uint64_t> expected{3, 6, 10, 10};
  BOOST_TEST(delays(schedule, {false, false, false, false}) == expected, boost::test_tools::per_element());
}

// A doubling that lands below the bound is kept, and only the next one is cut to it: with an odd bound a
// check of `>=` against the bound skipped the step (5, 11 instead of 5, 10, 11).
BOOST_AUTO_TEST_CASE(a_doubling_that_lands_below_an_odd_bound_is_kept) {
  poll_schedule schedule(5, 11);
  const std::vector<std::uint64_t> expected{5, 10, 11, 11};
  BOOST_TEST(delays(schedule, {false, false, false, false}) == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(degenerate_bounds_are_corrected_and_nothing_overflows) {
  poll_schedule zero(0, 0);
  BOOST_TEST(zero.fast() == 1u);
  BOOST_TEST(zero.slow() == 1u);
  BOOST_TEST(zero.after_poll(false) == 1u);
  BOOST_TEST(zero.after_poll(false) == 1u);
  poll_schedule inverted(50, 10);
  BOOST_TEST(inverted.slow() == 50u);
  BOOST_TEST(inverted.after_poll(false) == 50u);
  BOOST_TEST(inverted.after_poll(false) == 50u);
  constexpr std::uint64_t huge = ~std::uint64_t{0};
  poll_schedule wide(huge / 2 + 1, huge);
  BOOST_TEST(wide.after_poll(false) == huge / 2 + 1);
  BOOST_TEST(wide.after_poll(false) == huge);  // never doubled past the bound
  BOOST_TEST(wide.after_poll(false) == huge);
}

BOOST_AUTO_TEST_SUITE_END()  // poll_schedule_test
