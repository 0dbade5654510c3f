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
// Binding 1 with `requests` requests and `raises` raises and no other event (no cancellation, fault,
// missed or extra doorbell, re-initialisation): a deeper search of the invalidation paths alone.
mailbox_scenario only(unsigned requests, unsigned raises, bool signal) {
  mailbox_scenario scenario;
  scenario.requests = requests;
  scenario.raises = raises;
  scenario.signal = signal;
  scenario.cancels = 0;
  scenario.failed_accesses = 0;
  scenario.missed_doorbells = 0;
  scenario.extra_doorbells = 0;
  scenario.reinits = 0;
  return scenario;
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

// docs/protocol.md 4.3: a VF that read the mask before the acknowledgement registers (or a PF that cleared
// them before it rewrote the mask) took a bit already taken as new, and its acknowledgement of it, landing
// after the PF raised that block again, took the new raise out: found with two raises of one block, 24
// steps deep, with nothing else going on.
BOOST_AUTO_TEST_CASE(two_raises_of_one_block_around_an_acknowledgement_are_both_delivered) {
  const search_result r = explore(mailbox_world{only(0, 2, false)}, 24);
  BOOST_TEST(r.invariant.empty(), trace_of(r));
  BOOST_TEST(r.complete);
  BOOST_TEST(r.states > 100000u);
}

// A VF that sleeps until signalled, its one request timing out, the PF raising once. It slept with the raise
// unread in two ways (vf_mailbox_engine): the PF's reset published it and signalled, and the VF's wait for
// the reset took the signal and read control, which does not show the status (after_control); or the
// status read that checks a timed-out request's answer showed it, answering the signal, and was dropped
// with the answer (after_verify).
BOOST_AUTO_TEST_CASE(a_raise_signalled_around_a_timed_out_request_reaches_a_vf_that_sleeps_until_signalled) {
  const search_result r = explore(mailbox_world{only(1, 1, true)}, 18);
  BOOST_TEST(r.invariant.empty(), trace_of(r));
  BOOST_TEST(r.complete);
  BOOST_TEST(r.states > 100000u);
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
