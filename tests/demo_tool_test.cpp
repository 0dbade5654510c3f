// vpci-demo (examples/demo.cpp) run as its users run it, as a child process; every wait is bounded
// (child_process.hpp). The signals go to the PF process alone (the test shares the demo's process group):
// its VF process then finds its PF gone.
#include <boost/test/unit_test.hpp>

#include <csignal>
#include <filesystem>
#include <string>

#include <sys/mman.h>
#include <unistd.h>

#include "child_process.hpp"

namespace {

using vpci::test::program_process;
namespace fs = std::filesystem;

const std::string demo_program = VPCI_DEMO_PROGRAM;

using vpci::test::contains;

// The demo started and past its set-up: the shared memory and the socket are made, the VF process forked.
struct running_demo {
  running_demo()
      : process({demo_program}, program_process::capture::stdout_and_stderr),
        serving(process.wait_for_output("[PF] serving VF 0 and VF 1")),
        made{"/dev/shm/vpci-demo-" + std::to_string(process.pid()) + "-vf0",
             "/dev/shm/vpci-demo-" + std::to_string(process.pid()) + "-vf1",
             "/tmp/vpci-demo-" + std::to_string(process.pid()) + ".sock"} {}
  // Whatever the run left is removed, so that a failing test does not add to it.
  ~running_demo() {
    process.signal(SIGKILL);
    (void)process.wait_exit();
    std::error_code ignored;
    for (const auto& path : made) fs::remove(path, ignored);
  }
  running_demo(const running_demo&) = delete;
  running_demo& operator=(const running_demo&) = delete;

  program_process process;
  bool serving;
  std::string made[3];
};

}  // namespace

BOOST_AUTO_TEST_SUITE(demo_tool)

// Ctrl-C left /dev/shm/vpci-demo-PID-vf0, -vf1 and /tmp/vpci-demo-PID.sock behind, three more each run.
BOOST_AUTO_TEST_CASE(an_interrupted_demo_removes_what_it_made) {
  for (const int signal_number : {SIGINT, SIGTERM}) {
    BOOST_TEST_CONTEXT("signal " << signal_number) {
      running_demo demo;
      BOOST_TEST_REQUIRE(demo.serving, demo.process.output());
      for (const auto& path : demo.made) BOOST_TEST_REQUIRE(fs::exists(fs::symlink_status(path)), path);
      demo.process.signal(signal_number);
      BOOST_TEST(demo.process.wait_exit() == -1);
      BOOST_TEST(demo.process.end_signal() == signal_number);
      for (const auto& path : demo.made) BOOST_TEST(!fs::exists(fs::symlink_status(path)), path);
    }
  }
}

// The VF process of a PF killed with SIGKILL exited without a word: its coroutine's exception was dropped.
BOOST_AUTO_TEST_CASE(the_vf_process_says_what_failed_when_its_pf_dies) {
  running_demo demo;
  // Past the VF's opening of its config spaces (which says its own failures): in its sessions.
  BOOST_TEST_REQUIRE(demo.process.wait_for_output("found the mailbox DVSEC"), demo.process.output());
  demo.process.signal(SIGKILL);
  BOOST_TEST(demo.process.wait_exit() == -1);  // the VF process's output is read to its end too
  BOOST_TEST(contains(demo.process.output(), "] failed: "), demo.process.output());
}

BOOST_AUTO_TEST_SUITE_END()
