// shm_config_space liveness (issue 8, case 11): a dead PF is told from a slow one, across processes and
// within one; a restarted PF replaces its stale object; a PF sees its VFs come and go. Processes are
// forked, killed with SIGKILL and reaped: once waitpid returned, the kernel has finished the exit, so the
// tests check the result at once, without waiting. Every wait on another process is bounded by `guard`.
#include <boost/test/unit_test.hpp>

#include <array>
#include <atomic>
#include <bit>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>

#include <vpci/transport/fault_injecting.hpp>
#include <vpci/transport/shm_config_space.hpp>

#include "child_process.hpp"
#include "futex_sleepers.hpp"

BOOST_AUTO_TEST_SUITE(shm_liveness_test)

namespace {

using boost::system::error_code;
using vpci::errc;
using vpci::shm_access;
using vpci::shm_config_space;
using vpci::shm_create;
using vpci::shm_doorbell;
using vpci::shm_role;
using vpci::shm_sharing;

// Failure guard for waits that a passing test ends at once.
constexpr std::chrono::seconds guard{10};

std::string unique_name(const char* what) {
  return "/vpci-live-" + std::string(what) + "-" + std::to_string(::getpid());
}

bool shm_exists(const std::string& name) {
  const int fd = ::shm_open(name.c_str(), O_RDONLY, 0);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

std::vector<unsigned> read_numbers(const shm_config_space& space, std::size_t offset, std::size_t length) {
  std::vector<std::byte> out(length);
  error_code ec;
  BOOST_TEST(space.read(offset, out, ec) == length);
  BOOST_TEST(!ec);
  std::vector<unsigned> numbers;
  for (std::byte b : out) numbers.push_back(std::to_integer<unsigned>(b));
  return numbers;
}

const std::array<std::byte, 2> marker{std::byte{0xC0}, std::byte{0xDE}};

template <class Action>
void check_system_error(Action&& action, error_code expected) {
  try {
    action();
    BOOST_FAIL("expected boost::system::system_error " << expected.message());
  } catch (const boost::system::system_error& e) {
    BOOST_TEST(e.code() == expected, e.code().message() << " instead of " << expected.message());
  }
}

void check_open_fails(const std::string& name, error_code expected) {
  boost::asio::io_context io;
  check_system_error([&] { (void)shm_config_space::open(io.get_executor(), name); }, expected);
}

error_code system_code(int value) { return {value, boost::system::system_category()}; }

// One byte from `fd` within `bound`; -1 when none came (timeout or end of file).
int read_byte_within(int fd, std::chrono::milliseconds bound = guard) {
  ::pollfd ready{fd, POLLIN, 0};
  if (::poll(&ready, 1, static_cast<int>(bound.count())) != 1) return -1;
  char byte = 0;
  return ::read(fd, &byte, 1) == 1 ? static_cast<unsigned char>(byte) : -1;
}
void write_byte(int fd, char byte) { (void)!::write(fd, &byte, 1); }

using vpci::test::child_process;
using vpci::test::holds_in_a_child;

struct pipe_pair {
  int read_end = -1;
  int write_end = -1;
  pipe_pair() {
    int ends[2];
    BOOST_TEST_REQUIRE(::pipe(ends) == 0);
    read_end = ends[0];
    write_end = ends[1];
  }
  pipe_pair(const pipe_pair&) = delete;
  pipe_pair& operator=(const pipe_pair&) = delete;
  ~pipe_pair() {
    if (read_end >= 0) ::close(read_end);
    if (write_end >= 0) ::close(write_end);
  }
};

// A process playing one side: it reports 'R' on `ready` once its view exists ('F' if that failed), then
// waits for a command byte ('q': destroy the view, then exit 0). Killing it is its crash. The child never
// returns into the test framework.
struct side_process {
  pipe_pair ready;
  pipe_pair command;
  std::unique_ptr<child_process> process;
};

enum class side { pf_creating, vf_opening };

// Where a side process runs: in this process's PID namespace, or as the first process of a new one (there
// it is process 1 and the first thread it starts is thread 2, as in every other such namespace).
enum class pid_namespace { this_one, a_new_one };

// Continues in a child that is the first process of a new PID namespace; the caller, its parent, waits for
// it and exits with its exit status. The child dies with its parent: a test that fails and kills the
// parent leaves nothing behind. False (still in the caller) when no PID namespace can be made.
bool continue_in_a_new_pid_namespace() {
  if (::unshare(CLONE_NEWPID) != 0) return false;
  const ::pid_t first = ::fork();
  if (first < 0) return false;
  if (first == 0) return ::prctl(PR_SET_PDEATHSIG, SIGKILL) == 0;
  int status = 0;
  while (::waitpid(first, &status, 0) < 0 && errno == EINTR) {
  }
  ::_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
}

std::unique_ptr<side_process> spawn(side which, const std::string& name, shm_create mode = shm_create::exclusive,
                                    shm_sharing sharing = shm_sharing::shared,
                                    pid_namespace space = pid_namespace::this_one) {
  auto result = std::make_unique<side_process>();
  const ::pid_t pid = ::fork();
  BOOST_TEST_REQUIRE(pid >= 0);
  if (pid == 0) {
    char report = 'F';
    if (space == pid_namespace::a_new_one && !continue_in_a_new_pid_namespace()) {
      write_byte(result->ready.write_end, report);
      ::_exit(1);
    }
    try {
      boost::asio::io_context io;
      std::optional<shm_config_space> view;
      if (which == side::pf_creating) {
        view.emplace(shm_config_space::create(io.get_executor(), name, 256, mode));
        error_code ec;
        (void)view->write(0x10, marker, ec);
      } else {
        view.emplace(
            shm_config_space::open(io.get_executor(), name, shm_role::driver, shm_access::read_write, sharing));
      }
      report = 'R';
      write_byte(result->ready.write_end, report);
      char command = 0;
      (void)!::read(result->command.read_end, &command, 1);  // a command, or end of file if the test died
    } catch (...) {
      write_byte(result->ready.write_end, report);
    }
    ::_exit(report == 'R' ? 0 : 1);
  }
  result->process = std::make_unique<child_process>(pid);
  return result;
}

// What an exclusive create of 4096 bytes over `name` says: its EEXIST's text ("created" if it was not
// refused).
std::string exclusive_create_message(boost::asio::io_context& io, const std::string& name) {
  try {
    (void)shm_config_space::create(io.get_executor(), name, 4096);
  } catch (const boost::system::system_error& e) {
    BOOST_TEST((e.code() == system_code(EEXIST)));
    return e.what();
  }
  return "created";
}
}  // namespace

static_assert(vpci::liveness_transport<shm_config_space>);
static_assert(vpci::liveness_transport<vpci::fault_injecting_transport<shm_config_space&>>);
static_assert(vpci::peer_signalling_transport<vpci::fault_injecting_transport<shm_config_space&>>);
static_assert(!vpci::nonblocking_transport_v<vpci::fault_injecting_transport<shm_config_space&>>);

BOOST_AUTO_TEST_CASE(case_11_a_killed_pf_is_gone_for_its_vf_at_once_and_a_stopped_one_is_not) {
  const std::string name = unique_name("killed-pf");
  auto pf = spawn(side::pf_creating, name);
  BOOST_TEST_REQUIRE(read_byte_within(pf->ready.read_end) == 'R');

  boost::asio::io_context io;
  auto vf = shm_config_space::open(io.get_executor(), name);
  BOOST_TEST(read_numbers(vf, 0x10, 2) == (std::vector<unsigned>{0xC0, 0xDE}), boost::test_tools::per_element());
  BOOST_TEST(vf.peer_alive());
  std::vector<error_code> gone;
  vf.async_wait_peer_gone([&](error_code ec) { gone.push_back(ec); });
  const auto answers_seen = vf.peer_signal_sequence();

  // A stopped PF is slow, not dead.
  BOOST_TEST_REQUIRE(::kill(pf->process->pid(), SIGSTOP) == 0);
  BOOST_TEST(vf.peer_alive());
  BOOST_TEST(io.poll() == 0U);

  pf->process->kill();
  BOOST_TEST(!vf.peer_alive());  // marked by the kernel while the PF exited: nothing to wait for
  BOOST_TEST(io.run_one_for(guard) == 1U);
  BOOST_TEST_REQUIRE(gone.size() == 1U);
  BOOST_TEST(!gone[0]);
  BOOST_TEST(vf.peer_signal_sequence() == answers_seen);  // nobody rang: the wait learnt it from the kernel

  // The stale object is still there. A new VF is refused at once instead of timing out in it later, and
  // a restarted PF cannot take the name without asking to replace it.
  BOOST_TEST(shm_exists(name));
  check_open_fails(name, errc::peer_gone);
  check_system_error([&] { (void)shm_config_space::create(io.get_executor(), name, 256); }, system_code(EEXIST));
  ::shm_unlink(name.c_str());
}

BOOST_AUTO_TEST_CASE(case_11_a_restarted_pf_replaces_the_stale_object_and_a_new_vf_works) {
  const std::string name = unique_name("restart");
  auto crashed = spawn(side::pf_creating, name);
  BOOST_TEST_REQUIRE(read_byte_within(crashed->ready.read_end) == 'R');
  boost::asio::io_context io;
  auto old_vf = shm_config_space::open(io.get_executor(), name);
  crashed->process->kill();

  auto pf = shm_config_space::create(io.get_executor(), name, 4096, shm_create::replace);
  BOOST_TEST(pf.size() == 4096U);
  BOOST_TEST(!old_vf.peer_alive());  // the old object stays dead for those who still map it

  auto vf = shm_config_space::open(io.get_executor(), name);
  BOOST_TEST(vf.peer_alive());
  BOOST_TEST(pf.peer_alive());
  const auto requests_seen = pf.doorbell_sequence(shm_doorbell::to_device);
  error_code ec;
  const std::array<std::byte, 4> request{std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}};
  BOOST_TEST(vf.write(0x800, request, ec) == 4U);
  BOOST_TEST(pf.wait_for_doorbell(shm_doorbell::to_device, requests_seen, guard, ec) == requests_seen + 1);
  BOOST_TEST(!ec);
  BOOST_TEST(read_numbers(pf, 0x800, 4) == (std::vector<unsigned>{1, 2, 3, 4}), boost::test_tools::per_element());
  BOOST_TEST(read_numbers(old_vf, 0x10, 2) == (std::vector<unsigned>{0xC0, 0xDE}), boost::test_tools::per_element());
  BOOST_TEST(read_numbers(vf, 0x10, 2) == (std::vector<unsigned>{0, 0}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(replacing_a_live_object_tells_its_vfs_their_pf_is_gone) {
  const std::string name = unique_name("replace-live");
  boost::asio::io_context io;
  std::optional<shm_config_space> old_pf(shm_config_space::create(io.get_executor(), name, 256));
  auto old_vf = shm_config_space::open(io.get_executor(), name);
  std::vector<error_code> gone;
  std::vector<std::uint32_t> answers;
  const auto answers_seen = old_vf.peer_signal_sequence();
  old_vf.async_wait_peer_gone([&](error_code ec) { gone.push_back(ec); });
  old_vf.async_wait_peer_signal(answers_seen, [&](error_code ec, std::uint32_t sequence) {
    BOOST_TEST(!ec);
    answers.push_back(sequence);
  });
  BOOST_TEST(io.poll() == 0U);

  auto pf = shm_config_space::create(io.get_executor(), name, 256, shm_create::replace);
  BOOST_TEST(!old_vf.peer_alive());
  for (int i = 0; i != 2 && io.run_one_for(guard) == 1; ++i) {
  }
  BOOST_TEST_REQUIRE(gone.size() == 1U);
  BOOST_TEST(!gone[0]);
  // A VF waiting for an answer wakes at once too (to_driver rang), to find its PF gone.
  BOOST_TEST(answers == std::vector<std::uint32_t>{answers_seen + 1}, boost::test_tools::per_element());

  old_pf.reset();  // the replaced PF shuts down: the name is no longer its own, it stays
  BOOST_TEST(shm_exists(name));
  auto vf = shm_config_space::open(io.get_executor(), name);
  BOOST_TEST(vf.peer_alive());
}

BOOST_AUTO_TEST_CASE(replace_takes_over_a_name_that_holds_no_vpci_space) {
  const std::string name = unique_name("replace-foreign");
  const int fd = ::shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  BOOST_TEST_REQUIRE(fd >= 0);
  BOOST_TEST_REQUIRE(::ftruncate(fd, 100) == 0);
  ::close(fd);
  boost::asio::io_context io;
  check_system_error([&] { (void)shm_config_space::create(io.get_executor(), name, 256); }, system_code(EEXIST));
  {
    auto pf = shm_config_space::create(io.get_executor(), name, 256, shm_create::replace);
    auto vf = shm_config_space::open(io.get_executor(), name);
    BOOST_TEST(vf.size() == 256U);
    BOOST_TEST(vf.peer_alive());
  }
  BOOST_TEST(!shm_exists(name));
}

// A name whose creator died after sizing the object and before publishing it (a crash, a SIGBUS on a
// full /dev/shm): nothing can open it, and a restarted PF must be able to take it over.
void make_unpublished_object(const std::string& name) {
  const int fd = ::shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  BOOST_TEST_REQUIRE(fd >= 0);
  BOOST_TEST_REQUIRE(::ftruncate(fd, 256 + 2 * 4096) == 0);
  ::close(fd);
}

// Found by a review: a restarted PF checked the name (a read-only open) and then replaced what it had
// judged stale. Two started at once both replaced: the second marked the first one's live device gone
// and unlinked its name, and both went on serving, one of them an object no VF could ever open.
// replace_stale judges and replaces under the object's lock: exactly one of them serves the name.
BOOST_AUTO_TEST_CASE(pfs_started_at_once_on_a_stale_name_leave_exactly_one_serving_it) {
  const std::string name = unique_name("race");
  for (int round = 0; round != 20; ++round) {
    BOOST_TEST_CONTEXT("round " << round) {
      make_unpublished_object(name);
      boost::asio::io_context io;
      constexpr std::size_t pfs = 4;
      std::array<std::optional<shm_config_space>, pfs> made;
      std::array<error_code, pfs> refused;
      {
        std::vector<std::jthread> starting;
        for (std::size_t i = 0; i != pfs; ++i) {
          starting.emplace_back([&, i] {
            try {
              made[i].emplace(shm_config_space::create(io.get_executor(), name, 4096, shm_create::replace_stale));
            } catch (const boost::system::system_error& e) {
              refused[i] = e.code();
            }
          });
        }
      }
      int serving = 0;
      for (std::size_t i = 0; i != pfs; ++i) {
        if (made[i]) {
          ++serving;
        } else {
          BOOST_TEST(refused[i] == system_code(EEXIST), refused[i].message());
        }
      }
      BOOST_TEST_REQUIRE(serving == 1);
      // The one serving is the one the name reaches, and it lives.
      auto vf = shm_config_space::open(io.get_executor(), name);
      BOOST_TEST(vf.peer_alive());
      for (auto& pf : made) {
        if (!pf) continue;
        error_code ec;
        BOOST_TEST_REQUIRE(pf->write(0x10, marker, ec) == marker.size());
        BOOST_TEST(read_numbers(vf, 0x10, 2) == (std::vector<unsigned>{0xC0, 0xDE}), boost::test_tools::per_element());
        BOOST_TEST(pf->peer_alive());  // its VF is attached
      }
    }
    BOOST_TEST(!shm_exists(name));  // the serving PF ended and took its name along
  }
}

BOOST_AUTO_TEST_CASE(replace_stale_refuses_a_live_device_and_leaves_it_serving) {
  const std::string name = unique_name("stale-live");
  boost::asio::io_context io;
  auto pf = shm_config_space::create(io.get_executor(), name, 256);
  auto vf = shm_config_space::open(io.get_executor(), name);
  check_system_error([&] { (void)shm_config_space::create(io.get_executor(), name, 256, shm_create::replace_stale); },
                     system_code(EEXIST));
  BOOST_TEST(vf.peer_alive());
  error_code ec;
  BOOST_TEST(pf.write(0x10, marker, ec) == marker.size());
  auto again = shm_config_space::open(io.get_executor(), name);
  BOOST_TEST(read_numbers(again, 0x10, 2) == (std::vector<unsigned>{0xC0, 0xDE}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(replace_stale_takes_over_a_dead_device_or_one_that_never_published) {
  const std::string name = unique_name("stale-dead");
  boost::asio::io_context io;
  // A PF killed while serving.
  auto crashed = spawn(side::pf_creating, name);
  BOOST_TEST_REQUIRE(read_byte_within(crashed->ready.read_end) == 'R');
  crashed->process->kill();
  {
    auto pf = shm_config_space::create(io.get_executor(), name, 4096, shm_create::replace_stale);
    auto vf = shm_config_space::open(io.get_executor(), name);
    BOOST_TEST(vf.peer_alive());
    BOOST_TEST(vf.size() == 4096U);
  }
  BOOST_TEST(!shm_exists(name));
  // A creator that died before publishing: a VF is told its device is gone; a PF takes the name.
  make_unpublished_object(name);
  check_open_fails(name, errc::peer_gone);
  check_system_error([&] { (void)shm_config_space::create(io.get_executor(), name, 256); }, system_code(EEXIST));
  {
    auto pf = shm_config_space::create(io.get_executor(), name, 256, shm_create::replace_stale);
    auto vf = shm_config_space::open(io.get_executor(), name);
    BOOST_TEST(vf.peer_alive());
  }
  BOOST_TEST(!shm_exists(name));
  // One that died before it even sized the object (or is about to): for a VF, not created yet.
  const int fd = ::shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  BOOST_TEST_REQUIRE(fd >= 0);
  ::close(fd);
  check_open_fails(name, system_code(ENOENT));
  {
    auto pf = shm_config_space::create(io.get_executor(), name, 256, shm_create::replace_stale);
    BOOST_TEST(shm_config_space::open(io.get_executor(), name).peer_alive());
  }
  BOOST_TEST(!shm_exists(name));
}

// Found by a crash audit: a PF restarted after `kill -9` that creates its space in the default exclusive
// mode read only "shm_open /name: File exists", nothing about the old device being dead or replace_stale
// taking the name. The error stays EEXIST; its text says what holds the name.
BOOST_AUTO_TEST_CASE(an_exclusive_create_over_a_dead_devices_name_says_the_device_is_gone) {
  const std::string name = unique_name("exclusive-dead");
  boost::asio::io_context io;
  {
    auto live = shm_config_space::create(io.get_executor(), name, 4096);
    const std::string said = exclusive_create_message(io, name);
    BOOST_TEST(said.find("its device lives") != std::string::npos, said);
  }
  auto crashed = spawn(side::pf_creating, name);
  BOOST_TEST_REQUIRE(read_byte_within(crashed->ready.read_end) == 'R');
  crashed->process->kill();
  const std::string said = exclusive_create_message(io, name);
  BOOST_TEST(said.find("its device is gone: shm_create::replace_stale takes the name") != std::string::npos, said);
  BOOST_TEST(shm_exists(name));  // nothing taken
  {
    auto pf = shm_config_space::create(io.get_executor(), name, 4096, shm_create::replace_stale);
    BOOST_TEST(shm_config_space::open(io.get_executor(), name).peer_alive());
  }
  BOOST_TEST(!shm_exists(name));
}

// The other things a name can hold, each said in the EEXIST's text: an object that is no vpci config
// space, a vpci config space of another layout version (the header's words in host order, as
// docs/shm-transport.md lays them out), an empty object (a creator between its shm_open and its lock, or
// one that died there), a sized object never published that nobody holds (its creator died making it).
// None is taken. Found by an audit racing creators: the last two were both called gone, judged without
// the object's lock, and so was a winner's object its creator was still making.
BOOST_AUTO_TEST_CASE(an_exclusive_create_over_a_foreign_other_version_or_unpublished_object_says_which) {
  boost::asio::io_context io;
  const auto make_object = [](const std::string& name, const std::vector<std::byte>& contents) {
    const int fd = ::shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
    BOOST_TEST_REQUIRE(fd >= 0);
    BOOST_TEST_REQUIRE(::write(fd, contents.data(), contents.size()) == static_cast<ssize_t>(contents.size()));
    ::close(fd);
  };
  const std::size_t length = vpci::detail::shm_layout::total_size(4096);
  const std::string foreign = unique_name("exclusive-foreign");
  make_object(foreign, std::vector<std::byte>(length, std::byte{'X'}));
  std::string said = exclusive_create_message(io, foreign);
  BOOST_TEST(said.find(" (not a vpci config space)") != std::string::npos, said);
  BOOST_TEST(shm_exists(foreign));
  ::shm_unlink(foreign.c_str());

  const std::string other = unique_name("exclusive-other-version");
  std::vector<std::byte> header(length);
  const std::uint32_t words[] = {0x69637076u, 3u, 4096u};  // magic, version 3, size
  std::memcpy(header.data(), words, sizeof words);
  make_object(other, header);
  said = exclusive_create_message(io, other);
  BOOST_TEST(said.find(" (a vpci config space of another layout version)") != std::string::npos, said);
  BOOST_TEST(shm_exists(other));
  ::shm_unlink(other.c_str());

  const std::string empty = unique_name("exclusive-empty");
  make_object(empty, {});
  said = exclusive_create_message(io, empty);
  BOOST_TEST(said.find(" (an empty object: its creator is starting, or died before sizing it)") != std::string::npos, said);
  BOOST_TEST(shm_exists(empty));
  ::shm_unlink(empty.c_str());

  const std::string unpublished = unique_name("exclusive-unpublished");
  make_object(unpublished, std::vector<std::byte>(length));
  said = exclusive_create_message(io, unpublished);
  BOOST_TEST(said.find(" (its device is gone: shm_create::replace_stale takes the name)") != std::string::npos, said);
  BOOST_TEST(shm_exists(unpublished));
  ::shm_unlink(unpublished.c_str());
}

BOOST_AUTO_TEST_CASE(replace_stale_leaves_what_is_no_vpci_space_as_it_is) {
  const std::string name = unique_name("stale-foreign");
  const int fd = ::shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  BOOST_TEST_REQUIRE(fd >= 0);
  BOOST_TEST_REQUIRE(::ftruncate(fd, 100) == 0);
  boost::asio::io_context io;
  check_system_error([&] { (void)shm_config_space::create(io.get_executor(), name, 256, shm_create::replace_stale); },
                     errc::bad_data);
  // A vpci space of another layout version: its presence words cannot be read, so it is not judged.
  BOOST_TEST_REQUIRE(::ftruncate(fd, 256 + 2 * 256) == 0);
  void* base = ::mmap(nullptr, 768, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  BOOST_TEST_REQUIRE(base != MAP_FAILED);
  auto* words = static_cast<std::uint32_t*>(base);
  words[0] = 0x69637076;
  words[1] = 3;
  words[2] = 256;
  check_system_error([&] { (void)shm_config_space::create(io.get_executor(), name, 256, shm_create::replace_stale); },
                     errc::revision_mismatch);
  ::munmap(base, 768);
  struct ::stat status {};
  BOOST_TEST(::fstat(fd, &status) == 0);
  BOOST_TEST(status.st_size == 768);
  BOOST_TEST(shm_exists(name));
  ::close(fd);
  ::shm_unlink(name.c_str());
}

// Whether this process may give a child its own mount namespace with a small tmpfs on /dev/shm (root,
// and no seccomp policy refusing unshare): what the next test needs to fill the file system.
boost::test_tools::assertion_result can_mount_a_private_dev_shm(boost::unit_test::test_unit_id) {
  boost::test_tools::assertion_result result(holds_in_a_child([] {
    return ::unshare(CLONE_NEWNS) == 0 && ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0 &&
           ::mount("tmpfs", "/dev/shm", "tmpfs", 0, "size=12k") == 0;
  }));
  if (!result) result.message() << "no private tmpfs on /dev/shm can be mounted here (needs CAP_SYS_ADMIN)";
  return result;
}

// Found by a review: tmpfs reserves no pages at ftruncate, so on a full /dev/shm (a container's 64 MB)
// create() died of SIGBUS at its first store into the new object, and left a name that nothing could
// open or reuse. The pages are now reserved before the object is used: ENOSPC, and no name left.
BOOST_AUTO_TEST_CASE(a_full_dev_shm_fails_create_with_enospc_and_leaves_no_name,
                     *boost::unit_test::precondition(can_mount_a_private_dev_shm)) {
  const std::string name = unique_name("full");
  const ::pid_t pid = ::fork();
  BOOST_TEST_REQUIRE(pid >= 0);
  if (pid == 0) {
    // Exit status: 0 ENOSPC and no name left; 2 set-up failed; 3 created; 4 another error; 5 name left.
    // A SIGBUS kills the child (the test framework's handler would carry on in it).
    ::signal(SIGBUS, SIG_DFL);
    if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        ::mount("tmpfs", "/dev/shm", "tmpfs", 0, "size=12k") != 0)
      ::_exit(2);
    // Two of the three pages taken: the object needs three (8448 bytes).
    const int filler = ::shm_open("/filler", O_CREAT | O_EXCL | O_RDWR, 0600);
    if (filler < 0 || ::posix_fallocate(filler, 0, 8192) != 0) ::_exit(2);
    int status = 3;
    try {
      boost::asio::io_context io;
      (void)shm_config_space::create(io.get_executor(), name, 4096);
    } catch (const boost::system::system_error& e) {
      status = e.code() == system_code(ENOSPC) ? 0 : 4;
    } catch (...) {
      status = 4;
    }
    if (status == 0 && shm_exists(name)) status = 5;
    ::_exit(status);
  }
  child_process creator(pid);
  BOOST_TEST(creator.wait_exit() == 0);  // -1: killed by a signal (SIGBUS before the fix)
}

BOOST_AUTO_TEST_CASE(case_11_a_pf_that_shuts_down_cleanly_is_gone_for_its_vf) {
  const std::string name = unique_name("clean-pf");
  auto pf = spawn(side::pf_creating, name);
  BOOST_TEST_REQUIRE(read_byte_within(pf->ready.read_end) == 'R');
  boost::asio::io_context io;
  auto vf = shm_config_space::open(io.get_executor(), name);
  std::vector<error_code> gone;
  vf.async_wait_peer_gone([&](error_code ec) { gone.push_back(ec); });
  const auto answers_seen = vf.peer_signal_sequence();
  BOOST_TEST(io.poll() == 0U);

  write_byte(pf->command.write_end, 'q');
  BOOST_TEST(pf->process->wait_exit() == 0);
  BOOST_TEST(!vf.peer_alive());
  BOOST_TEST(io.run_one_for(guard) == 1U);
  BOOST_TEST_REQUIRE(gone.size() == 1U);
  BOOST_TEST(!gone[0]);
  BOOST_TEST(vf.peer_signal_sequence() == answers_seen + 1);  // the PF rang on its way out
  BOOST_TEST(!shm_exists(name));                               // and took its name with it
  check_open_fails(name, system_code(ENOENT));
}

// Found by an audit of holder processes: a PF that opened a holder's object in the device role (a
// co-device) could not learn that the holder ended, which ends the space for its VFs (they fail with
// peer_gone); its peer_alive() watches the drivers. device_alive() says it, in every role.
BOOST_AUTO_TEST_CASE(a_co_device_learns_that_the_holder_of_its_object_ended) {
  const std::string name = unique_name("holder");
  auto holder = spawn(side::pf_creating, name);
  BOOST_TEST_REQUIRE(read_byte_within(holder->ready.read_end) == 'R');
  boost::asio::io_context io;
  auto co_device = shm_config_space::open(io.get_executor(), name, shm_role::device);
  auto vf = shm_config_space::open(io.get_executor(), name);
  BOOST_TEST(co_device.device_alive());
  BOOST_TEST(vf.device_alive());
  BOOST_TEST(co_device.peer_alive());  // its peer is the drivers: one is attached
  holder->process->kill();
  BOOST_TEST(!co_device.device_alive());  // marked by the kernel while the holder exited
  BOOST_TEST(!vf.device_alive());
  BOOST_TEST(!vf.peer_alive());
  BOOST_TEST(co_device.peer_alive());  // the drivers are still there: only device_alive() tells
}

// One process, one mapping: the device is present while a device-role view of the creating mapping exists.
BOOST_AUTO_TEST_CASE(case_11_in_process_the_last_device_view_ends_the_device) {
  boost::asio::io_context io;
  std::optional<shm_config_space> device(shm_config_space::create_anonymous(io.get_executor(), 256));
  std::optional<shm_config_space> second_device(device->view(io.get_executor(), shm_role::device));
  auto driver = device->view(io.get_executor(), shm_role::driver);
  std::vector<error_code> gone;
  driver.async_wait_peer_gone([&](error_code ec) { gone.push_back(ec); });

  device.reset();
  BOOST_TEST(driver.peer_alive());  // another device-role view still holds it
  BOOST_TEST(io.poll() == 0U);
  shm_config_space moved = std::move(*second_device);
  second_device.reset();
  BOOST_TEST(driver.peer_alive());  // moving a view moves its share
  { [[maybe_unused]] const shm_config_space gone_with_this = std::move(moved); }
  BOOST_TEST(!driver.peer_alive());
  BOOST_TEST(io.run_one_for(guard) == 1U);
  BOOST_TEST_REQUIRE(gone.size() == 1U);
  BOOST_TEST(!gone[0]);

  const auto late_device = driver.view(io.get_executor(), shm_role::device);
  BOOST_TEST(!driver.peer_alive());  // a device never comes back in the same object
}

BOOST_AUTO_TEST_CASE(in_process_a_named_device_takes_its_name_when_it_ends) {
  const std::string name = unique_name("in-process");
  boost::asio::io_context io;
  std::optional<shm_config_space> device(shm_config_space::create(io.get_executor(), name, 256));
  auto driver = shm_config_space::open(io.get_executor(), name);
  auto observer = shm_config_space::open(io.get_executor(), name, shm_role::driver, shm_access::read_only);
  BOOST_TEST(driver.peer_alive());
  device.reset();
  BOOST_TEST(!driver.peer_alive());
  BOOST_TEST(!observer.peer_alive());
  BOOST_TEST(!shm_exists(name));
}

// The demo's shape: the PF creates the space, then forks its VF, which opens it by name. The VF inherits
// copies of the PF's views, which must not keep a dead PF alive.
BOOST_AUTO_TEST_CASE(case_11_a_pf_killed_after_forking_its_vf_is_gone_for_that_vf) {
  const std::string name = unique_name("fork-pf");
  pipe_pair verdict;
  const ::pid_t pf_pid = ::fork();
  BOOST_TEST_REQUIRE(pf_pid >= 0);
  if (pf_pid == 0) {
    try {
      boost::asio::io_context io;
      auto device = shm_config_space::create(io.get_executor(), name, 256);
      if (::fork() == 0) {
        // The VF: 'R' once it opened the space, then 'G' if it saw its PF go, 'X' if not.
        char result = 'X';
        try {
          boost::asio::io_context vf_io;
          auto vf = shm_config_space::open(vf_io.get_executor(), name);
          write_byte(verdict.write_end, 'R');
          bool gone = false;
          vf.async_wait_peer_gone([&](error_code ec) { gone = !ec; });
          (void)vf_io.run_one_for(guard);
          bool refused = false;
          try {
            (void)shm_config_space::open(vf_io.get_executor(), name);
          } catch (const boost::system::system_error& e) {
            refused = e.code() == errc::peer_gone;
          }
          if (gone && refused && !vf.peer_alive()) result = 'G';
        } catch (...) {
        }
        write_byte(verdict.write_end, result);
        ::_exit(0);
      }
      ::pause();  // until killed
    } catch (...) {
    }
    ::_exit(1);
  }
  child_process pf(pf_pid);
  BOOST_TEST_REQUIRE(read_byte_within(verdict.read_end) == 'R');
  pf.kill();
  BOOST_TEST(read_byte_within(verdict.read_end, guard + std::chrono::seconds(5)) == 'G');
  ::shm_unlink(name.c_str());
}

// The other direction of the same shape: the VF forked from the PF dies, and the PF sees it.
BOOST_AUTO_TEST_CASE(case_11_a_killed_vf_is_gone_for_its_pf) {
  const std::string name = unique_name("killed-vf");
  boost::asio::io_context io;
  auto pf = shm_config_space::create(io.get_executor(), name, 256);
  BOOST_TEST(pf.peer_alive());  // no VF attached yet: none has gone
  std::vector<error_code> gone;
  pf.async_wait_peer_gone([&](error_code ec) { gone.push_back(ec); });
  BOOST_TEST(io.poll() == 0U);

  auto vf = spawn(side::vf_opening, name);
  BOOST_TEST_REQUIRE(read_byte_within(vf->ready.read_end) == 'R');
  BOOST_TEST(pf.peer_alive());
  BOOST_TEST(io.poll() == 0U);  // a VF attaching is not a VF leaving
  vf->process->kill();
  BOOST_TEST(!pf.peer_alive());
  BOOST_TEST(io.run_one_for(guard) == 1U);
  BOOST_TEST_REQUIRE(gone.size() == 1U);
  BOOST_TEST(!gone[0]);

  auto restarted_vf = shm_config_space::open(io.get_executor(), name);  // VFs come back
  BOOST_TEST(pf.peer_alive());
  BOOST_TEST(restarted_vf.peer_alive());
}

BOOST_AUTO_TEST_CASE(a_pf_sees_its_vfs_come_and_go_and_observers_do_not_count) {
  const std::string name = unique_name("vfs");
  boost::asio::io_context io;
  auto pf = shm_config_space::create(io.get_executor(), name, 256);
  std::vector<error_code> gone;
  pf.async_wait_peer_gone([&](error_code ec) { gone.push_back(ec); });
  const auto observer = shm_config_space::open(io.get_executor(), name, shm_role::driver, shm_access::read_only);
  {
    const auto first = shm_config_space::open(io.get_executor(), name);  // its own mapping, its own attachment
    {
      const auto second = shm_config_space::open(io.get_executor(), name);
      const auto second_view = second.view(io.get_executor(), shm_role::driver);  // same mapping: same attachment
    }
    BOOST_TEST(pf.peer_alive());  // `first` is still attached
    BOOST_TEST(io.poll() == 0U);
  }
  BOOST_TEST(!pf.peer_alive());  // the observer is no driver
  BOOST_TEST(io.run_one_for(guard) == 1U);
  BOOST_TEST_REQUIRE(gone.size() == 1U);
  BOOST_TEST(!gone[0]);
}

BOOST_AUTO_TEST_CASE(at_most_eight_vfs_attach_at_once) {
  const std::string name = unique_name("eight");
  boost::asio::io_context io;
  auto pf = shm_config_space::create(io.get_executor(), name, 256);
  std::vector<shm_config_space> vfs;
  for (int i = 0; i != 8; ++i) vfs.push_back(shm_config_space::open(io.get_executor(), name));
  check_open_fails(name, errc::insufficient_resources);
  BOOST_CHECK_NO_THROW(
      (void)shm_config_space::open(io.get_executor(), name, shm_role::driver, shm_access::read_only));
  vfs.erase(vfs.begin());
  vfs.push_back(shm_config_space::open(io.get_executor(), name));  // a freed word is claimed again
  BOOST_TEST(pf.peer_alive());
}

// Whether this process may start a child in a new PID namespace (root, and no seccomp policy refusing
// unshare): what the next test needs to give drivers in two processes one thread number.
boost::test_tools::assertion_result can_make_a_pid_namespace(boost::unit_test::test_unit_id) {
  boost::test_tools::assertion_result result(holds_in_a_child([] { return ::unshare(CLONE_NEWPID) == 0; }));
  if (!result) result.message() << "no PID namespace can be made here (needs CAP_SYS_ADMIN)";
  return result;
}

// Found by a review: a driver refused a word (eight present) ended its presence thread with the kernel's
// robust list still naming the last word it had tried. The kernel marks a word gone at a thread's end when
// the word holds that thread's number in the thread's own PID namespace, so a driver of another PID
// namespace (another container) holding that word under the same number was marked gone while it lived,
// and the next driver took its word. The eighth driver and the refused ninth here each run as the first
// process of a new PID namespace, where the presence thread is thread 2.
BOOST_AUTO_TEST_CASE(a_refused_driver_leaves_a_driver_of_its_thread_number_in_another_pid_namespace_attached,
                     *boost::unit_test::precondition(can_make_a_pid_namespace)) {
  const std::string name = unique_name("pidns");
  boost::asio::io_context io;
  auto pf = shm_config_space::create(io.get_executor(), name, 256);
  std::vector<shm_config_space> vfs;
  for (int i = 0; i != 7; ++i) vfs.push_back(shm_config_space::open(io.get_executor(), name));
  auto eighth = spawn(side::vf_opening, name, shm_create::exclusive, shm_sharing::shared, pid_namespace::a_new_one);
  BOOST_TEST_REQUIRE(read_byte_within(eighth->ready.read_end) == 'R');
  {
    const int fd = ::shm_open(name.c_str(), O_RDONLY, 0);
    BOOST_TEST_REQUIRE(fd >= 0);
    void* base = ::mmap(nullptr, 768, PROT_READ, MAP_SHARED, fd, 0);
    ::close(fd);
    BOOST_TEST_REQUIRE(base != MAP_FAILED);
    const auto* words = static_cast<const std::uint32_t*>(base);
    BOOST_TEST(words[(200 + 4 * 7) / 4] == 2U);  // the last driver word, held by thread 2
    ::munmap(base, 768);
  }
  auto ninth = spawn(side::vf_opening, name, shm_create::exclusive, shm_sharing::shared, pid_namespace::a_new_one);
  BOOST_TEST(read_byte_within(ninth->ready.read_end) == 'F');
  BOOST_TEST(ninth->process->wait_exit() == 1);
  check_open_fails(name, errc::insufficient_resources);  // the eighth is still attached
  write_byte(eighth->command.write_end, 'q');
  BOOST_TEST(eighth->process->wait_exit() == 0);
}

// Any number of read-write drivers (up to eight) attached to one space, and nothing told two VFs that they
// were driving one mailbox: each overwrote the other's requests. A driver may ask to be the only one
// (shm_sharing::exclusive): it is refused while another read-write driver is attached, and while it is,
// every other is refused, whatever it asked; observers are neither. A refused driver leaves nothing
// behind: it never counted as attached.
BOOST_AUTO_TEST_CASE(a_driver_that_asks_to_be_alone_is_refused_beside_another_and_refuses_the_others) {
  const std::string name = unique_name("alone");
  boost::asio::io_context io;
  auto pf = shm_config_space::create(io.get_executor(), name, 256);
  const auto open_alone = [&] {
    return shm_config_space::open(io.get_executor(), name, shm_role::driver, shm_access::read_write,
                                  shm_sharing::exclusive);
  };
  const auto observe = [&] {
    (void)shm_config_space::open(io.get_executor(), name, shm_role::driver, shm_access::read_only);
  };
  {
    const auto shared = shm_config_space::open(io.get_executor(), name);
    check_system_error([&] { (void)open_alone(); }, errc::in_use);
    BOOST_CHECK_NO_THROW(observe());
  }
  BOOST_TEST(!pf.peer_alive());  // the shared driver came and went; the refused one never came
  {
    const auto alone = open_alone();
    const auto same_driver = alone.view(io.get_executor(), shm_role::driver);  // one mapping: one driver
    check_open_fails(name, errc::in_use);
    check_system_error([&] { (void)open_alone(); }, errc::in_use);
    check_system_error([&] { (void)pf.view(io.get_executor(), shm_role::driver); }, errc::in_use);
    BOOST_CHECK_NO_THROW(observe());
    BOOST_TEST(pf.peer_alive());
  }
  BOOST_TEST(!pf.peer_alive());  // none of the refused ones holds a driver word
  {
    const auto shared = shm_config_space::open(io.get_executor(), name);  // the space is free again
    const auto another = shm_config_space::open(io.get_executor(), name);
    BOOST_TEST(pf.peer_alive());
  }
  // Only a read-write driver has a choice to make.
  BOOST_CHECK_THROW((void)shm_config_space::open(io.get_executor(), name, shm_role::driver, shm_access::read_only,
                                                 shm_sharing::exclusive),
                    std::invalid_argument);
  BOOST_CHECK_THROW((void)shm_config_space::open(io.get_executor(), name, shm_role::device, shm_access::read_write,
                                                 shm_sharing::exclusive),
                    std::invalid_argument);
}

// Two drivers attaching at once, modelled step by step (each step one sequentially consistent access, as
// in the transport): each claims its word, publishes its choice, then looks at the others. In every
// interleaving of the two, when either asked to be alone they never both stay (both may be refused: the
// safe side); when both share, both stay; one that finished before the other started stays. A mark whose
// word is gone (its driver died) refuses nobody.
BOOST_AUTO_TEST_CASE(drivers_attaching_at_once_never_both_stay_when_one_asked_to_be_alone) {
  namespace detail = vpci::detail;
  using layout = detail::shm_layout;
  const std::size_t length = layout::total_size(256);
  void* base = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  BOOST_TEST_REQUIRE(base != MAP_FAILED);
  const detail::shm_mapping mapping(base, length, 256);  // unmaps at the end
  const auto store = [&](std::size_t offset, std::uint32_t value) {
    std::atomic_ref<std::uint32_t>(mapping.word(offset)).store(value, std::memory_order_seq_cst);
  };
  const auto reset = [&] {
    for (std::size_t slot = 0; slot != layout::driver_slots; ++slot)
      store(layout::driver_presence_offset + 4 * slot, 0);
    store(layout::exclusive_drivers_offset, 0);
  };
  struct driver {
    std::size_t slot;
    shm_sharing sharing;
    std::uint32_t tid;
    bool refused = false;
  };
  // The 20 orders of A's three steps and B's three steps: a mask of which of the six steps are B's.
  int orders = 0;
  for (const shm_sharing a_sharing : {shm_sharing::shared, shm_sharing::exclusive}) {
    for (const shm_sharing b_sharing : {shm_sharing::shared, shm_sharing::exclusive}) {
      for (unsigned b_steps = 0; b_steps != 64; ++b_steps) {
        if (std::popcount(b_steps) != 3) continue;
        ++orders;
        reset();
        driver a{0, a_sharing, 101};
        driver b{1, b_sharing, 102};
        int a_done = 0;
        int b_done = 0;
        for (int step = 0; step != 6; ++step) {
          const bool b_turn = ((b_steps >> step) & 1U) != 0;
          driver& d = b_turn ? b : a;
          int& done = b_turn ? b_done : a_done;
          if (done == 0) store(layout::driver_presence_offset + 4 * d.slot, d.tid);  // claims its word
          else if (done == 1) detail::shm_mark_driver_sharing(mapping, d.slot, d.sharing);
          else d.refused = detail::shm_driver_conflicts(mapping, d.slot, d.sharing);
          ++done;
        }
        const auto named = [](shm_sharing sharing) { return sharing == shm_sharing::exclusive ? "alone" : "shared"; };
        BOOST_TEST_CONTEXT("a " << named(a_sharing) << ", b " << named(b_sharing) << ", order " << b_steps) {
          if (a_sharing == shm_sharing::shared && b_sharing == shm_sharing::shared) {
            BOOST_TEST((!a.refused && !b.refused));
          } else {
            BOOST_TEST((a.refused || b.refused));
          }
          if (b_steps == 0b111000) BOOST_TEST(!a.refused);  // A attached before B began
          if (b_steps == 0b000111) BOOST_TEST(!b.refused);
        }
      }
    }
  }
  BOOST_TEST(orders == 4 * 20);
  // A mark left by a driver that died (its word gone) refuses nobody; a present one refuses a shared driver.
  reset();
  store(layout::driver_presence_offset + 4 * 3, FUTEX_OWNER_DIED);
  detail::shm_mark_driver_sharing(mapping, 3, shm_sharing::exclusive);
  store(layout::driver_presence_offset, 201);
  detail::shm_mark_driver_sharing(mapping, 0, shm_sharing::shared);
  BOOST_TEST(!detail::shm_driver_conflicts(mapping, 0, shm_sharing::shared));
  store(layout::driver_presence_offset + 4 * 3, 203);
  BOOST_TEST(detail::shm_driver_conflicts(mapping, 0, shm_sharing::shared));
}

// A driver that asked to be alone and was killed leaves its mark behind; the kernel marks its word gone,
// and with it the mark is void: the next driver attaches, shared or alone.
BOOST_AUTO_TEST_CASE(a_driver_alone_that_dies_leaves_the_space_to_the_next_driver) {
  const std::string name = unique_name("alone-killed");
  boost::asio::io_context io;
  auto pf = shm_config_space::create(io.get_executor(), name, 256);
  auto vf = spawn(side::vf_opening, name, shm_create::exclusive, shm_sharing::exclusive);
  BOOST_TEST_REQUIRE(read_byte_within(vf->ready.read_end) == 'R');
  check_open_fails(name, errc::in_use);  // across processes too
  vf->process->kill();
  BOOST_TEST(!pf.peer_alive());
  {
    const auto shared = shm_config_space::open(io.get_executor(), name);
    BOOST_TEST(pf.peer_alive());
  }
  const auto alone =
      shm_config_space::open(io.get_executor(), name, shm_role::driver, shm_access::read_write, shm_sharing::exclusive);
  BOOST_TEST(pf.peer_alive());
}

BOOST_AUTO_TEST_CASE(peer_gone_waits_complete_through_the_executor_and_are_cancellable) {
  boost::asio::io_context io;
  std::optional<shm_config_space> device(shm_config_space::create_anonymous(io.get_executor(), 256));
  auto driver = device->view(io.get_executor(), shm_role::driver);
  std::vector<error_code> results;
  const auto record = [&](error_code ec) { results.push_back(ec); };

  boost::asio::cancellation_signal signal;
  driver.async_wait_peer_gone(boost::asio::bind_cancellation_slot(signal.slot(), record));
  BOOST_TEST(io.poll() == 0U);
  signal.emit(boost::asio::cancellation_type::terminal);
  BOOST_TEST(io.run_one_for(guard) == 1U);
  BOOST_TEST_REQUIRE(results.size() == 1U);
  BOOST_TEST((results[0] == errc::cancelled));

  io.restart();
  {
    auto short_lived = device->view(io.get_executor(), shm_role::driver);
    short_lived.async_wait_peer_gone(record);
    BOOST_TEST(io.poll() == 0U);
  }  // the view goes away with its wait pending
  BOOST_TEST(io.run_one_for(guard) == 1U);
  BOOST_TEST_REQUIRE(results.size() == 2U);
  BOOST_TEST((results[1] == errc::cancelled));

  // A wait outlives its cancellation signal (case 15's rule, for this wait too).
  io.restart();
  auto dying_signal = std::make_unique<boost::asio::cancellation_signal>();
  driver.async_wait_peer_gone(boost::asio::bind_cancellation_slot(dying_signal->slot(), record));
  BOOST_TEST(io.poll() == 0U);
  dying_signal.reset();
  device.reset();
  BOOST_TEST(io.run_one_for(guard) == 1U);
  BOOST_TEST_REQUIRE(results.size() == 3U);
  BOOST_TEST(!results[2]);

  // Already gone: completes at once, but never inline.
  io.restart();
  driver.async_wait_peer_gone(record);
  BOOST_TEST(results.size() == 3U);
  BOOST_TEST(io.poll() == 1U);
  BOOST_TEST_REQUIRE(results.size() == 4U);
  BOOST_TEST(!results[3]);
}

// A child forked after the views were made destroys its copies of them (as a child that returns through
// destructors does): that must neither end the parent's presence nor unlink its name.
BOOST_AUTO_TEST_CASE(a_forked_child_destroying_inherited_views_changes_nothing_for_the_parent) {
  const std::string name = unique_name("fork-copy");
  boost::asio::io_context io;
  std::optional<shm_config_space> pf(shm_config_space::create(io.get_executor(), name, 256));
  std::optional<shm_config_space> vf(shm_config_space::open(io.get_executor(), name));
  std::vector<error_code> gone;
  vf->async_wait_peer_gone([&](error_code ec) { gone.push_back(ec); });
  const ::pid_t pid = ::fork();
  BOOST_TEST_REQUIRE(pid >= 0);
  if (pid == 0) {
    vf.reset();
    pf.reset();
    ::_exit(0);
  }
  child_process child(pid);
  BOOST_TEST(child.wait_exit() == 0);
  BOOST_TEST(vf->peer_alive());
  BOOST_TEST(pf->peer_alive());
  BOOST_TEST(shm_exists(name));
  BOOST_TEST(io.poll() == 0U);
  pf.reset();
  BOOST_TEST(io.run_one_for(guard) == 1U);
  BOOST_TEST(gone.size() == 1U);
}

BOOST_AUTO_TEST_CASE(the_fault_injecting_wrapper_passes_liveness_and_the_peer_signal_through) {
  boost::asio::io_context io;
  std::optional<shm_config_space> device(shm_config_space::create_anonymous(io.get_executor(), 256));
  auto driver = device->view(io.get_executor(), shm_role::driver);
  vpci::fault_injecting_transport<shm_config_space&> wrapped(driver);
  wrapped.fail_at(0, errc::device_error, vpci::fault_persistence::from_then_on);
  const auto seen = wrapped.peer_signal_sequence();
  BOOST_TEST(seen == driver.peer_signal_sequence());
  std::vector<std::uint32_t> signals;
  std::vector<error_code> gone;
  wrapped.async_wait_peer_signal(seen, [&](error_code ec, std::uint32_t sequence) {
    BOOST_TEST(!ec);
    signals.push_back(sequence);
  });
  wrapped.async_wait_peer_gone([&](error_code ec) { gone.push_back(ec); });
  BOOST_TEST(wrapped.peer_alive());
  BOOST_TEST(io.poll() == 0U);
  device.reset();  // rings to_driver on its way out
  BOOST_TEST(!wrapped.peer_alive());
  for (int i = 0; i != 2 && io.run_one_for(guard) == 1; ++i) {
  }
  BOOST_TEST(signals == std::vector<std::uint32_t>{seen + 1}, boost::test_tools::per_element());
  BOOST_TEST(gone.size() == 1U);
  error_code ec;
  BOOST_TEST(wrapped.wait_peer_signal(seen, std::chrono::nanoseconds::zero(), ec) == seen + 1);
  BOOST_TEST(!ec);
  BOOST_TEST(wrapped.operation_count() == 0U);  // none of these is an operation, none was failed
}

// Found by a mutation audit (no test saw it: the one-second re-check hid it): when a device process dies,
// the kernel wakes one sleeper on its presence word (the robust-futex ABI); that one passes the wake on,
// so every other watcher learns at once. Sleepers are counted on the futex, so "at once" is exact.
BOOST_AUTO_TEST_CASE(every_watcher_of_a_killed_device_is_woken_at_once_not_only_the_one_the_kernel_woke) {
  const std::string name = unique_name("pass-on");
  int ready[2];
  BOOST_TEST_REQUIRE(::pipe(ready) == 0);
  const ::pid_t pid = ::fork();
  BOOST_TEST_REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(ready[0]);
    boost::asio::io_context io;
    try {
      const auto device = shm_config_space::create(io.get_executor(), name, 256);
      (void)!::write(ready[1], "r", 1);
      for (;;) ::pause();
    } catch (...) {
      ::_exit(1);
    }
  }
  ::close(ready[1]);
  char byte = 0;
  BOOST_TEST_REQUIRE(::read(ready[0], &byte, 1) == 1);
  ::close(ready[0]);

  boost::asio::io_context io;
  auto first = shm_config_space::open(io.get_executor(), name);   // each view watches from a helper thread
  auto second = shm_config_space::open(io.get_executor(), name);
  const int fd = ::shm_open(name.c_str(), O_RDWR, 0);
  BOOST_TEST_REQUIRE(fd >= 0);
  void* base = ::mmap(nullptr, 256, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  BOOST_TEST_REQUIRE(base != MAP_FAILED);
  std::uint32_t& device_word = static_cast<std::uint32_t*>(base)[192 / 4];

  std::vector<error_code> gone;
  first.async_wait_peer_gone([&](error_code ec) { gone.push_back(ec); });
  second.async_wait_peer_gone([&](error_code ec) { gone.push_back(ec); });
  const bool both_asleep = vpci::test::sleepers_reach(device_word, 2, guard);

  ::kill(pid, SIGKILL);
  BOOST_TEST(io.run_one_for(guard) == 1U);  // the watcher the kernel woke has passed the wake on by now
  const long still_asleep = vpci::test::futex_sleepers(device_word);
  BOOST_TEST(io.run_one_for(guard) == 1U);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::munmap(base, 256);
  ::shm_unlink(name.c_str());
  BOOST_TEST_REQUIRE(both_asleep);
  BOOST_TEST(still_asleep == 0);
  BOOST_TEST(gone.size() == 2U);
  BOOST_TEST(!first.peer_alive());
  BOOST_TEST(!second.peer_alive());
}

BOOST_AUTO_TEST_SUITE_END()  // shm_liveness_test
