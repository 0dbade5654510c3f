// vpci-demo (examples/demo.cpp) run as its users run it, as a child process; every wait is bounded
// (child_process.hpp). The signals go to the PF process alone (the test shares the demo's process group):
// its VF process then finds its PF gone.
#include <boost/test/unit_test.hpp>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include <elf.h>
#include <sys/mman.h>
#include <unistd.h>

#include "child_process.hpp"

BOOST_AUTO_TEST_SUITE(demo_tool_test)

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

// The bytes of `program`'s sections that are loaded when it runs (code and data: SHF_ALLOC), the debug
// information left out, which a Debug build adds and the installed program need not have.
std::string loaded_sections(const std::string& program) {
  std::ifstream in(program, std::ios::binary);
  const std::string image{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  Elf64_Ehdr header{};
  BOOST_TEST_REQUIRE(image.size() >= sizeof header);
  std::memcpy(&header, image.data(), sizeof header);
  BOOST_TEST_REQUIRE(std::string_view(image.data(), 4) == std::string_view(ELFMAG, SELFMAG));
  BOOST_TEST_REQUIRE(header.e_ident[EI_CLASS] == ELFCLASS64);
  std::string loaded;
  for (unsigned i = 0; i < header.e_shnum; ++i) {
    Elf64_Shdr section{};
    const std::size_t at = header.e_shoff + std::size_t{i} * header.e_shentsize;
    BOOST_TEST_REQUIRE(at + sizeof section <= image.size());
    std::memcpy(&section, image.data() + at, sizeof section);
    if ((section.sh_flags & SHF_ALLOC) == 0 || section.sh_type == SHT_NOBITS) continue;
    BOOST_TEST_REQUIRE(section.sh_offset + section.sh_size <= image.size());
    loaded.append(image, section.sh_offset, section.sh_size);
  }
  return loaded;
}

}  // namespace

// A result's value() taken in demo.cpp recorded the call's source location, so the path of
// examples/demo.cpp was in every vpci-demo built without NDEBUG, the installed one included (`strings`
// shows it). The demo handles the result itself: no path of its source is in what the program loads.
BOOST_AUTO_TEST_CASE(the_demo_program_holds_no_path_of_its_source) {
  // A sanitizer's instrumentation names source files itself (its reports' locations and type names), in a
  // program built like this test is: that build is not one anybody installs.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  constexpr bool sanitized = true;
#elif defined(__has_feature)
  constexpr bool sanitized = __has_feature(address_sanitizer) || __has_feature(thread_sanitizer);
#else
  constexpr bool sanitized = false;
#endif
  if (sanitized) {
    BOOST_TEST_MESSAGE("built with a sanitizer, whose instrumentation names the sources: nothing to check");
    return;
  }
  const std::string loaded = loaded_sections(demo_program);
  BOOST_TEST(!loaded.empty());
  BOOST_TEST(loaded.find("demo.cpp") == std::string::npos);
}

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

BOOST_AUTO_TEST_SUITE_END()  // demo_tool_test
