// vpci-perf (examples/perf/) run as its users run it, as a child process: a long run prints a progress
// line each second and ends on Ctrl-C with the figures so far. Every wait is bounded (child_process.hpp);
// the only time that passes is the tool's own second before its first progress line.
#include <boost/test/unit_test.hpp>

#include <csignal>
#include <string>

#include "child_process.hpp"

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

BOOST_AUTO_TEST_SUITE(perf_tool)

// On --memory the PF answers inside the VF's own config writes, so every read completes without waiting,
// and vpci-perf starts the next one from each completion. Before the VF endpoint gave its executor to
// other work between completions (vf_core's completions_per_turn), such a run printed no progress line,
// ignored Ctrl-C and ran to the end of its --duration.
BOOST_AUTO_TEST_CASE(a_memory_run_prints_progress_and_ends_on_ctrl_c) {
  for (const std::string binding : {"mailbox", "hyperv"}) {
    BOOST_TEST_CONTEXT("binding " << binding) {
      vpci::test::program_process run({VPCI_PERF_PROGRAM, "--memory", "--binding", binding, "--duration", "3600", "--json"},
                                      vpci::test::program_process::capture::stdout_and_stderr);
      BOOST_TEST_REQUIRE(run.running());
      // The first progress line (stderr; the figures at the end are JSON on stdout, without "blocks/s").
      BOOST_TEST_REQUIRE(run.wait_for_output(" blocks/s "));
      run.signal(SIGINT);
      BOOST_TEST(run.wait_exit() == 0);
      const std::string& out = run.output();
      BOOST_TEST(contains(out, "\"binding\":\"" + binding + "\""));
      BOOST_TEST(contains(out, "\"interrupted\":true"));
      BOOST_TEST(contains(out, "\"error_count\":0"));
      BOOST_TEST(!contains(out, "\"operations\":0,"));
      if (binding == "mailbox") BOOST_TEST(contains(out, "\"config_accesses_per_op\":35.000"));
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
