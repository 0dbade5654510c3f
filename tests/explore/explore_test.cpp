// The interleaving explorer in CI: small bounds of both bindings explored exhaustively with no
// violation, and planted bugs (a PF broken on purpose through the explorer's own hooks, never the
// shipping engines) that the explorer must report with the invariant they break.
#include <boost/test/unit_test.hpp>

#include <string>

#include "explore_search.hpp"
#include "hyperv_world.hpp"
#include "mailbox_world.hpp"

using namespace vpci::explore;

namespace {
template <class World>
search_result explore(const World& root, unsigned depth) {
  search_limits limits;
  limits.depth = depth;
  explorer<World> search(root, limits);
  return search.run();
}
std::string trace_of(const search_result& r) {
  std::string text;
  for (const std::string& line : r.trace) text += line + "\n";
  return text;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(explore_mailbox)

BOOST_AUTO_TEST_CASE(bounded_exploration_finds_no_violation) {
  const search_result r = explore(mailbox_world{}, 8);
  BOOST_TEST_MESSAGE(r.states << " states, " << r.transitions << " transitions");
  BOOST_TEST(r.invariant.empty(), trace_of(r));
  BOOST_TEST(r.complete);
  BOOST_TEST(r.states > 5000u);
}

BOOST_AUTO_TEST_CASE(bounded_exploration_with_the_signal_finds_no_violation) {
  mailbox_scenario scenario;
  scenario.signal = true;
  const search_result r = explore(mailbox_world{scenario}, 7);
  BOOST_TEST(r.invariant.empty(), trace_of(r));
  BOOST_TEST(r.states > 1000u);
}

BOOST_AUTO_TEST_CASE(a_pf_that_forgets_its_latch_loses_an_invalidation) {
  mailbox_scenario scenario;
  scenario.bug = planted_bug::latch_forgotten;
  const search_result r = explore(mailbox_world{scenario}, 10);
  BOOST_TEST(r.invariant == "no invalidation is lost", trace_of(r));
  BOOST_TEST(!r.trace.empty());
  BOOST_TEST(r.trace.size() < 50u);  // shrunk, the fair run cut to its last steps
  BOOST_TEST_MESSAGE(trace_of(r));
}

BOOST_AUTO_TEST_CASE(a_pf_that_writes_status_before_data_returns_a_torn_block) {
  mailbox_scenario scenario;
  scenario.bug = planted_bug::status_before_data;
  const search_result r = explore(mailbox_world{scenario}, 10);
  BOOST_TEST(r.invariant == "no torn block", trace_of(r));
  BOOST_TEST(!r.trace.empty());
  BOOST_TEST(r.trace.size() < 50u);  // shrunk, the fair run cut to its last steps
  BOOST_TEST_MESSAGE(trace_of(r));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(explore_hyperv)

BOOST_AUTO_TEST_CASE(bounded_exploration_finds_no_violation) {
  const search_result r = explore(hyperv_world{}, 10);
  BOOST_TEST_MESSAGE(r.states << " states, " << r.transitions << " transitions");
  BOOST_TEST(r.invariant.empty(), trace_of(r));
  BOOST_TEST(r.complete);
  BOOST_TEST(r.states > 1000u);
}

BOOST_AUTO_TEST_CASE(a_pf_that_does_not_end_serving_loses_an_invalidation) {
  hyperv_scenario scenario;
  scenario.planted_skip_end_of_serving = true;
  const search_result r = explore(hyperv_world{scenario}, 10);
  BOOST_TEST(r.invariant == "no invalidation is lost", trace_of(r));
  BOOST_TEST(!r.trace.empty());
  BOOST_TEST_MESSAGE(trace_of(r));
}

BOOST_AUTO_TEST_SUITE_END()
