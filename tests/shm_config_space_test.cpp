#include <boost/test/unit_test.hpp>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>

#include <vpci/transport/shm_config_space.hpp>

#include "child_process.hpp"
#include "futex_sleepers.hpp"

BOOST_AUTO_TEST_SUITE(shm_config_space_test)

namespace {

using boost::system::error_code;
using vpci::errc;
using vpci::shm_access;
using vpci::shm_config_space;
using vpci::shm_doorbell;
using vpci::shm_role;

// Failure guard for waits that a passing test ends at once.
constexpr std::chrono::seconds guard{10};

std::string unique_name(const char* what) {
  return "/vpci-test-" + std::string(what) + "-" + std::to_string(::getpid());
}

std::vector<std::byte> bytes(std::initializer_list<unsigned> values) {
  std::vector<std::byte> out;
  for (unsigned v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

std::vector<unsigned> numbers(std::span<const std::byte> in) {
  std::vector<unsigned> out;
  for (std::byte b : in) out.push_back(std::to_integer<unsigned>(b));
  return out;
}

std::vector<unsigned> read_numbers(const shm_config_space& space, std::size_t offset, std::size_t length) {
  std::vector<std::byte> out(length);
  error_code ec;
  BOOST_TEST(space.read(offset, out, ec) == length);
  BOOST_TEST(!ec);
  return numbers(out);
}

// The POSIX shared-memory object `name` exists.
bool shm_exists(const std::string& name) {
  const int fd = ::shm_open(name.c_str(), O_RDONLY, 0);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

template <class Exception>
bool has_code(const Exception& e, error_code expected) {
  return e.code() == expected;
}

// Makes this process unable to start a thread, as a full PID space or RLIMIT_NPROC would: a seccomp filter
// fails clone3, with which the C library starts threads, with EAGAIN (fork still works: it uses clone).
// A filter cannot be removed: for a forked child only. False when it cannot be installed, or a thread
// still starts (a C library that starts threads otherwise).
bool refuse_new_threads() {
  std::array<::sock_filter, 4> program{{
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(::seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone3, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EAGAIN),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  }};
  const ::sock_fprog filter{static_cast<unsigned short>(program.size()), program.data()};
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &filter) != 0) {
    return false;
  }
  try {
    std::thread([] {}).join();
    return false;
  } catch (const std::system_error&) {
    return true;
  }
}

// Whether a forked child here can be made unable to start threads: what the tests of thread-creation
// failures need.
boost::test_tools::assertion_result can_refuse_new_threads(boost::unit_test::test_unit_id) {
  boost::test_tools::assertion_result result(vpci::test::holds_in_a_child(refuse_new_threads));
  if (!result) result.message() << "no seccomp filter here makes thread creation fail";
  return result;
}

const error_code no_thread{EAGAIN, boost::system::system_category()};

// What `start` did in a process that cannot start threads, as a child's exit status: 0 when it threw
// boost::system::system_error with EAGAIN, as documented; 3 when it returned; 4 for another error; 5 for
// another exception.
template <class Start>
int no_thread_status(Start&& start) {
  try {
    start();
    return 3;
  } catch (const boost::system::system_error& e) {
    return e.code() == no_thread ? 0 : 4;
  } catch (...) {
    return 5;
  }
}

using vpci::test::futex_sleepers;
using vpci::test::sleepers_reach;

// This process's own mapping of the header of the named object (docs/shm-transport.md section 2).
class raw_header {
 public:
  explicit raw_header(const std::string& name) {
    const int fd = ::shm_open(name.c_str(), O_RDWR, 0);
    BOOST_TEST_REQUIRE(fd >= 0);
    base_ = ::mmap(nullptr, 256, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ::close(fd);
    BOOST_TEST_REQUIRE(base_ != MAP_FAILED);
  }
  ~raw_header() { ::munmap(base_, 256); }
  raw_header(const raw_header&) = delete;
  raw_header& operator=(const raw_header&) = delete;
  [[nodiscard]] std::uint32_t& word(std::size_t offset) const { return static_cast<std::uint32_t*>(base_)[offset / 4]; }
  [[nodiscard]] std::uint32_t load(std::size_t offset) const { return std::atomic_ref<std::uint32_t>(word(offset)).load(); }

 private:
  void* base_;
};

// A device's 256-byte space created under a fresh name, and this process's own mapping of its header.
struct named_space {
  explicit named_space(const char* what) : name(unique_name(what)) {}
  std::string name;
  boost::asio::io_context io;
  shm_config_space pf = shm_config_space::create(io.get_executor(), name, 256);
  raw_header header{name};
};

constexpr std::size_t to_device_sequence = 64;
constexpr std::size_t to_device_waiters = 68;
constexpr std::size_t driver_attached = 196;
constexpr std::size_t driver_word(std::size_t slot) { return 200 + 4 * slot; }
constexpr std::size_t exclusive_drivers = 232;

}  // namespace

BOOST_AUTO_TEST_CASE(only_256_and_4096_byte_spaces_exist) {
  boost::asio::io_context io;
  BOOST_CHECK_THROW(shm_config_space::create_anonymous(io.get_executor(), 512), std::invalid_argument);
  BOOST_CHECK_THROW(shm_config_space::create(io.get_executor(), unique_name("badsize"), 100), std::invalid_argument);
  BOOST_TEST(!shm_exists(unique_name("badsize")));
  const auto small = shm_config_space::create_anonymous(io.get_executor(), 256);
  const auto large = shm_config_space::create_anonymous(io.get_executor(), 4096);
  BOOST_TEST(small.size() == 256U);
  BOOST_TEST(large.size() == 4096U);
  BOOST_TEST(read_numbers(large, 0, 4096) == std::vector<unsigned>(4096), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(bytes_written_by_one_view_are_read_by_the_other) {
  boost::asio::io_context io;
  auto device = shm_config_space::create_anonymous(io.get_executor(), 256);
  auto driver = device.view(io.get_executor(), shm_role::driver);
  BOOST_TEST((driver.role() == shm_role::driver));
  error_code ec;
  BOOST_TEST(driver.write(0x41, bytes({1, 2, 3, 4, 5, 6, 7}), ec) == 7U);  // 1 + 2 + 4-byte accesses
  BOOST_TEST(!ec);
  BOOST_TEST(read_numbers(device, 0x40, 9) == (std::vector<unsigned>{0, 1, 2, 3, 4, 5, 6, 7, 0}),
             boost::test_tools::per_element());
  BOOST_TEST(device.write(0xFC, bytes({0xEF, 0xBE, 0xAD, 0xDE}), ec) == 4U);
  BOOST_TEST(read_numbers(driver, 0xFC, 4) == (std::vector<unsigned>{0xEF, 0xBE, 0xAD, 0xDE}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(out_of_range_and_empty_accesses_fail_exactly_and_change_nothing) {
  boost::asio::io_context io;
  auto device = shm_config_space::create_anonymous(io.get_executor(), 256);
  auto driver = device.view(io.get_executor(), shm_role::driver);
  std::array<std::byte, 8> buffer{};
  buffer.fill(std::byte{0x77});
  const auto to_device = device.doorbell_sequence(shm_doorbell::to_device);
  constexpr std::size_t huge = std::numeric_limits<std::size_t>::max();
  struct bad_case {
    std::size_t offset;
    std::size_t length;
    errc expected;
  };
  const bad_case cases[] = {{257, 1, errc::out_of_range},      {256, 1, errc::out_of_range},
                            {252, 8, errc::out_of_range},      {huge, 1, errc::out_of_range},
                            {huge - 3, 8, errc::out_of_range}, {256, 0, errc::invalid_argument},
                            {0, 0, errc::invalid_argument}};
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT("offset " << c.offset << " length " << c.length) {
      error_code ec;
      BOOST_TEST(driver.read(c.offset, std::span(buffer).first(c.length), ec) == 0U);
      BOOST_TEST((ec == c.expected));
      ec = {};
      BOOST_TEST(driver.write(c.offset, std::span<const std::byte>(buffer).first(c.length), ec) == 0U);
      BOOST_TEST((ec == c.expected));
      BOOST_TEST((device.set_write_mask(c.offset, std::span<const std::byte>(buffer).first(c.length)) == c.expected));
    }
  }
  BOOST_TEST(read_numbers(device, 0, 256) == std::vector<unsigned>(256), boost::test_tools::per_element());
  BOOST_TEST(device.doorbell_sequence(shm_doorbell::to_device) == to_device);  // failed writes ring nothing
}

BOOST_AUTO_TEST_CASE(the_write_mask_protects_bits_from_the_driver_side_only) {
  boost::asio::io_context io;
  auto device = shm_config_space::create_anonymous(io.get_executor(), 256);
  auto driver = device.view(io.get_executor(), shm_role::driver);
  error_code ec;
  BOOST_TEST(device.write(0x10, bytes({0xA0, 0x11, 0x22, 0x33}), ec) == 4U);
  BOOST_TEST(device.set_write_mask(0x10, bytes({0x0F, 0x00, 0xFF, 0x00})) == vpci::no_error);
  BOOST_TEST(driver.write(0x10, bytes({0x5F, 0x99, 0x99, 0x99}), ec) == 4U);
  BOOST_TEST(!ec);
  BOOST_TEST(read_numbers(device, 0x10, 4) == (std::vector<unsigned>{0xAF, 0x11, 0x99, 0x33}),
             boost::test_tools::per_element());
  BOOST_TEST(driver.write(0x11, bytes({0x55}), ec) == 1U);  // a fully protected byte: ignored
  BOOST_TEST(read_numbers(device, 0x11, 1) == std::vector<unsigned>{0x11}, boost::test_tools::per_element());
  BOOST_TEST(device.write(0x10, bytes({0xFF, 0xFF}), ec) == 2U);  // the device side writes every bit
  BOOST_TEST(read_numbers(driver, 0x10, 2) == (std::vector<unsigned>{0xFF, 0xFF}), boost::test_tools::per_element());
  BOOST_TEST((driver.set_write_mask(0x10, bytes({0xFF})) == errc::access_denied));
}

BOOST_AUTO_TEST_CASE(a_read_only_view_refuses_writes_and_changes_nothing) {
  boost::asio::io_context io;
  auto device = shm_config_space::create_anonymous(io.get_executor(), 256);
  const auto viewer = device.view(io.get_executor(), shm_role::driver, shm_access::read_only);
  auto writer = device.view(io.get_executor(), shm_role::driver, shm_access::read_only);
  BOOST_TEST((writer.access() == shm_access::read_only));
  error_code ec;
  BOOST_TEST(device.write(0x20, bytes({1, 2}), ec) == 2U);
  const auto rung = device.doorbell_sequence(shm_doorbell::to_device);
  BOOST_TEST(writer.write(0x20, bytes({9, 9}), ec) == 0U);
  BOOST_TEST((ec == errc::read_only));
  BOOST_TEST((writer.set_write_mask(0x20, bytes({0})) == errc::read_only));
  BOOST_TEST(read_numbers(viewer, 0x20, 2) == (std::vector<unsigned>{1, 2}), boost::test_tools::per_element());
  BOOST_TEST(device.doorbell_sequence(shm_doorbell::to_device) == rung);
}

BOOST_AUTO_TEST_CASE(each_write_call_rings_the_other_sides_doorbell_once) {
  boost::asio::io_context io;
  auto device = shm_config_space::create_anonymous(io.get_executor(), 256);
  auto driver = device.view(io.get_executor(), shm_role::driver);
  const auto to_device = device.doorbell_sequence(shm_doorbell::to_device);
  const auto to_driver = device.doorbell_sequence(shm_doorbell::to_driver);
  error_code ec;
  BOOST_TEST(driver.write(0x40, std::vector<std::byte>(16), ec) == 16U);  // four dword accesses, one ring
  BOOST_TEST(device.doorbell_sequence(shm_doorbell::to_device) == to_device + 1);
  BOOST_TEST(device.doorbell_sequence(shm_doorbell::to_driver) == to_driver);
  BOOST_TEST(device.write(0x40, bytes({1}), ec) == 1U);
  BOOST_TEST(driver.doorbell_sequence(shm_doorbell::to_driver) == to_driver + 1);
  BOOST_TEST(driver.doorbell_sequence(shm_doorbell::to_device) == to_device + 1);
  driver.ring_doorbell(shm_doorbell::to_device);
  BOOST_TEST(device.doorbell_sequence(shm_doorbell::to_device) == to_device + 2);
}

BOOST_AUTO_TEST_CASE(waiting_returns_at_once_on_a_change_and_times_out_without_one) {
  boost::asio::io_context io;
  auto device = shm_config_space::create_anonymous(io.get_executor(), 256);
  const auto seen = device.doorbell_sequence(shm_doorbell::to_device);
  error_code ec;
  BOOST_TEST(device.wait_for_doorbell(shm_doorbell::to_device, seen, std::chrono::nanoseconds::zero(), ec) == seen);
  BOOST_TEST((ec == errc::timeout));
  device.ring_doorbell(shm_doorbell::to_device);
  BOOST_TEST(device.wait_for_doorbell(shm_doorbell::to_device, seen, guard, ec) == seen + 1);
  BOOST_TEST(!ec);
}

// The wait subtracted the time spent from the timeout: nanoseconds::min() overflowed (undefined; in
// practice a huge wait that lasted until the doorbell rang). Every timeout is valid: a negative one is
// zero, and the largest never wraps.
BOOST_AUTO_TEST_CASE(wait_for_doorbell_with_the_most_negative_timeout_times_out_at_once) {
  boost::asio::io_context io;
  auto device = shm_config_space::create_anonymous(io.get_executor(), 256);
  auto driver = device.view(io.get_executor(), shm_role::driver);
  const auto seen = device.doorbell_sequence(shm_doorbell::to_device);
  error_code ec;
  BOOST_TEST(device.wait_for_doorbell(shm_doorbell::to_device, seen, std::chrono::nanoseconds::min(), ec) == seen);
  BOOST_TEST((ec == errc::timeout));
  BOOST_TEST(driver.wait_peer_signal(driver.peer_signal_sequence(), std::chrono::nanoseconds::min(), ec) ==
             driver.peer_signal_sequence());
  BOOST_TEST((ec == errc::timeout));
  BOOST_TEST(device.wait_for_doorbell(shm_doorbell::to_device, seen, std::chrono::nanoseconds(-1), ec) == seen);
  BOOST_TEST((ec == errc::timeout));
  device.ring_doorbell(shm_doorbell::to_device);
  BOOST_TEST(device.wait_for_doorbell(shm_doorbell::to_device, seen, std::chrono::nanoseconds::max(), ec) == seen + 1);
  BOOST_TEST(!ec);
}

BOOST_AUTO_TEST_CASE(async_read_and_write_complete_through_the_executor_never_inline) {
  boost::asio::io_context io;
  auto device = shm_config_space::create_anonymous(io.get_executor(), 4096);
  auto driver = device.view(io.get_executor(), shm_role::driver);
  const auto pattern = bytes({0x10, 0x20, 0x30});
  std::array<std::byte, 3> back{};
  int done = 0;
  driver.async_write(0xFFD, pattern, [&](error_code ec, std::size_t n) {
    BOOST_TEST(!ec);
    BOOST_TEST(n == 3U);
    ++done;
  });
  device.async_read(0xFFD, back, [&](error_code ec, std::size_t n) {
    BOOST_TEST(!ec);
    BOOST_TEST(n == 3U);
    ++done;
  });
  driver.async_read(0x1000, back, [&](error_code ec, std::size_t n) {
    BOOST_TEST((ec == errc::out_of_range));
    BOOST_TEST(n == 0U);
    ++done;
  });
  BOOST_TEST(done == 0);
  BOOST_TEST(io.run() == 3U);
  BOOST_TEST(done == 3);
  BOOST_TEST(numbers(back) == numbers(pattern), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(async_doorbell_wait_completes_on_a_ring_and_at_once_on_an_old_sequence) {
  boost::asio::io_context io;
  auto device = shm_config_space::create_anonymous(io.get_executor(), 256);
  auto driver = device.view(io.get_executor(), shm_role::driver);
  const auto seen = device.doorbell_sequence(shm_doorbell::to_device);
  std::vector<std::uint32_t> woke;
  device.async_wait_doorbell(shm_doorbell::to_device, seen, [&](error_code ec, std::uint32_t sequence) {
    BOOST_TEST(!ec);
    woke.push_back(sequence);
  });
  BOOST_TEST(io.poll() == 0U);  // nothing rang
  error_code ec;
  BOOST_TEST(driver.write(0, bytes({1}), ec) == 1U);  // rings to_device from this thread; the helper wakes
  BOOST_TEST(io.run_one_for(guard) == 1U);
  BOOST_TEST(woke == std::vector<std::uint32_t>{seen + 1}, boost::test_tools::per_element());

  // Waiting for a change from an outdated sequence completes at once, but still through the executor.
  io.restart();  // the io_context stopped when it ran out of work
  device.async_wait_doorbell(shm_doorbell::to_device, seen, [&](error_code e, std::uint32_t sequence) {
    BOOST_TEST(!e);
    woke.push_back(sequence);
  });
  BOOST_TEST(woke.size() == 1U);
  BOOST_TEST(io.run_one_for(guard) == 1U);
  BOOST_TEST(woke == (std::vector<std::uint32_t>{seen + 1, seen + 1}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(async_doorbell_wait_is_cancellable_and_ends_with_its_view) {
  boost::asio::io_context io;
  auto device = shm_config_space::create_anonymous(io.get_executor(), 256);
  boost::asio::cancellation_signal signal;
  std::vector<error_code> results;
  const auto seen = device.doorbell_sequence(shm_doorbell::to_device);
  device.async_wait_doorbell(
      shm_doorbell::to_device, seen,
      boost::asio::bind_cancellation_slot(signal.slot(), [&](error_code ec, std::uint32_t sequence) {
        BOOST_TEST(sequence == seen);
        results.push_back(ec);
      }));
  BOOST_TEST(io.poll() == 0U);
  signal.emit(boost::asio::cancellation_type::terminal);
  BOOST_TEST(io.run_one_for(guard) == 1U);
  BOOST_TEST_REQUIRE(results.size() == 1U);
  BOOST_TEST((results[0] == errc::cancelled));

  io.restart();  // the io_context stopped when it ran out of work
  {
    auto driver = device.view(io.get_executor(), shm_role::driver);
    driver.async_wait_doorbell(shm_doorbell::to_driver, driver.doorbell_sequence(shm_doorbell::to_driver),
                               [&](error_code ec, std::uint32_t) { results.push_back(ec); });
    BOOST_TEST(io.poll() == 0U);
  }  // the view goes away with its wait pending
  BOOST_TEST(io.run_one_for(guard) == 1U);
  BOOST_TEST_REQUIRE(results.size() == 2U);
  BOOST_TEST((results[1] == errc::cancelled));
  BOOST_TEST(device.doorbell_sequence(shm_doorbell::to_device) == seen);  // cancelling rang nothing
}

// Case 15: the owner of the cancellation signal (a VF endpoint) is destroyed after cancelling its wait and
// before the cancelled completion runs. The completion must not touch the slot: its signal is gone.
BOOST_AUTO_TEST_CASE(case_15_a_queued_wait_completion_outlives_its_cancellation_signal) {
  boost::asio::io_context io;
  auto device = shm_config_space::create_anonymous(io.get_executor(), 256);
  const auto seen = device.doorbell_sequence(shm_doorbell::to_device);
  std::vector<error_code> results;
  auto signal = std::make_unique<boost::asio::cancellation_signal>();
  device.async_wait_doorbell(shm_doorbell::to_device, seen,
                             boost::asio::bind_cancellation_slot(
                                 signal->slot(), [&](error_code ec, std::uint32_t) { results.push_back(ec); }));
  BOOST_TEST(io.poll() == 0U);
  signal->emit(boost::asio::cancellation_type::all);
  signal.reset();  // its owner goes away with the completion queued
  BOOST_TEST(io.run_one_for(guard) == 1U);
  BOOST_TEST_REQUIRE(results.size() == 1U);
  BOOST_TEST((results[0] == errc::cancelled));
}

// The signal may also die while the wait is pending: the wait is then no longer cancellable but completes.
BOOST_AUTO_TEST_CASE(case_15_a_pending_wait_outlives_its_cancellation_signal) {
  boost::asio::io_context io;
  auto device = shm_config_space::create_anonymous(io.get_executor(), 256);
  const auto seen = device.doorbell_sequence(shm_doorbell::to_device);
  std::vector<std::uint32_t> woke;
  auto signal = std::make_unique<boost::asio::cancellation_signal>();
  device.async_wait_doorbell(shm_doorbell::to_device, seen,
                             boost::asio::bind_cancellation_slot(signal->slot(), [&](error_code ec, std::uint32_t sequence) {
                               BOOST_TEST(!ec);
                               woke.push_back(sequence);
                             }));
  BOOST_TEST(io.poll() == 0U);
  signal.reset();
  device.ring_doorbell(shm_doorbell::to_device);
  BOOST_TEST(io.run_one_for(guard) == 1U);
  BOOST_TEST(woke == std::vector<std::uint32_t>{seen + 1}, boost::test_tools::per_element());
}

// A wait leaves its cancellation handler in the slot when it completes (as Asio's timers do); a late emit
// on that slot must reach nothing, not a later wait bound to another slot.
BOOST_AUTO_TEST_CASE(a_late_cancellation_does_not_reach_a_later_wait) {
  boost::asio::io_context io;
  auto device = shm_config_space::create_anonymous(io.get_executor(), 256);
  boost::asio::cancellation_signal first;
  boost::asio::cancellation_signal second;
  std::vector<error_code> results;
  const auto record = [&](error_code ec, std::uint32_t) { results.push_back(ec); };
  auto seen = device.doorbell_sequence(shm_doorbell::to_device);
  device.async_wait_doorbell(shm_doorbell::to_device, seen, boost::asio::bind_cancellation_slot(first.slot(), record));
  device.ring_doorbell(shm_doorbell::to_device);
  BOOST_TEST(io.run_one_for(guard) == 1U);
  io.restart();
  seen = device.doorbell_sequence(shm_doorbell::to_device);
  device.async_wait_doorbell(shm_doorbell::to_device, seen, boost::asio::bind_cancellation_slot(second.slot(), record));
  first.emit(boost::asio::cancellation_type::all);
  BOOST_TEST(io.poll() == 0U);  // the second wait still waits
  device.ring_doorbell(shm_doorbell::to_device);
  BOOST_TEST(io.run_one_for(guard) == 1U);
  BOOST_TEST_REQUIRE(results.size() == 2U);
  BOOST_TEST(!results[0]);
  BOOST_TEST(!results[1]);
}

BOOST_AUTO_TEST_CASE(a_named_space_is_opened_by_name_and_unlinked_by_its_creator) {
  boost::asio::io_context io;
  const std::string name = unique_name("named");
  {
    auto device = shm_config_space::create(io.get_executor(), name, 4096);
    BOOST_TEST(shm_exists(name));
    try {
      (void)shm_config_space::create(io.get_executor(), name, 256);
      BOOST_FAIL("creating an existing name must fail");
    } catch (const boost::system::system_error& e) {
      BOOST_TEST(has_code(e, error_code(EEXIST, boost::system::system_category())));
    }
    auto driver = shm_config_space::open(io.get_executor(), name);
    BOOST_TEST(driver.size() == 4096U);
    BOOST_TEST((driver.role() == shm_role::driver));
    error_code ec;
    BOOST_TEST(driver.write(0x800, bytes({0xAB, 0xCD}), ec) == 2U);
    BOOST_TEST(read_numbers(device, 0x800, 2) == (std::vector<unsigned>{0xAB, 0xCD}), boost::test_tools::per_element());
    const auto reader = shm_config_space::open(io.get_executor(), name, shm_role::driver, shm_access::read_only);
    BOOST_TEST(read_numbers(reader, 0x800, 2) == (std::vector<unsigned>{0xAB, 0xCD}), boost::test_tools::per_element());
  }
  BOOST_TEST(!shm_exists(name));
  try {
    (void)shm_config_space::open(io.get_executor(), name);
    BOOST_FAIL("opening a missing name must fail");
  } catch (const boost::system::system_error& e) {
    BOOST_TEST(has_code(e, error_code(ENOENT, boost::system::system_category())));
  }
}

BOOST_AUTO_TEST_CASE(opening_a_foreign_object_is_refused) {
  boost::asio::io_context io;
  const std::string name = unique_name("foreign");
  const int fd = ::shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  BOOST_TEST_REQUIRE(fd >= 0);
  struct cleanup {
    const std::string& name;
    int fd;
    ~cleanup() {
      ::close(fd);
      ::shm_unlink(name.c_str());
    }
  } unlink_at_end{name, fd};

  const auto expect_open_error = [&](error_code expected) {
    try {
      (void)shm_config_space::open(io.get_executor(), name);
      BOOST_FAIL("open must refuse the object");
    } catch (const boost::system::system_error& e) {
      BOOST_TEST(has_code(e, expected));
    }
  };
  BOOST_TEST_REQUIRE(::ftruncate(fd, 100) == 0);  // a length no vpci space has
  expect_open_error(errc::bad_data);
  // What the user reads says what the object is not, in words that fit it (not a block's).
  try {
    (void)shm_config_space::open(io.get_executor(), name);
  } catch (const boost::system::system_error& e) {
    // Boost appends the category and value ("[vpci:24]") after the message.
    const std::string said = "shared object " + name + " is not a vpci config space: data does not decode to the expected type or layout";
    BOOST_TEST(std::string{e.what()}.substr(0, said.size()) == said);
  }

  // The length of a 256-byte space (256 header + 256 space + 256 mask) but no magic: a creator sizes the
  // object under its lock and publishes the magic before it lets go, so an object found unpublished was
  // left by a creator that died there (its device is gone), not by a program of another kind.
  BOOST_TEST_REQUIRE(::ftruncate(fd, 768) == 0);
  expect_open_error(errc::peer_gone);

  void* base = ::mmap(nullptr, 768, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  BOOST_TEST_REQUIRE(base != MAP_FAILED);
  auto* words = static_cast<std::uint32_t*>(base);
  words[0] = 0x69637076;  // magic
  words[1] = 3;           // a later layout version
  words[2] = 256;
  expect_open_error(errc::revision_mismatch);
  words[1] = 1;  // the layout before presence words
  expect_open_error(errc::revision_mismatch);
  words[1] = 2;
  words[2] = 4096;  // a size that does not match the length
  expect_open_error(errc::bad_data);
  words[2] = 256;
  expect_open_error(errc::peer_gone);  // no device ever claimed its presence word (at 192)
  words[192 / 4] = 0x40000000;         // FUTEX_OWNER_DIED: its device died
  expect_open_error(errc::peer_gone);
  words[192 / 4] = static_cast<std::uint32_t>(::getpid());  // "present" (a thread ID no kernel will clear here)
  BOOST_CHECK_NO_THROW((void)shm_config_space::open(io.get_executor(), name, shm_role::driver, shm_access::read_only));
  ::munmap(base, 768);
}

// Found by a review: any process that maps the object may overwrite a doorbell's waiter count; zeroed while
// a wait slept, a ring skipped its FUTEX_WAKE and the wait never completed. A doorbell sleep now lasts at
// most a second, so the wait sees the ring at its next re-check. Found by a spec audit: the sleeper's
// decrement then wrapped the count to 0xFFFFFFFF, the next lone sleeper counted it back to zero, and every
// later ring skipped its wake (each wait a second long, for good); the count stops at zero now.
BOOST_AUTO_TEST_CASE(a_doorbell_wait_sees_a_ring_whose_wake_a_zeroed_waiter_count_suppressed) {
  named_space s("waiters");
  std::uint32_t& sequence = s.header.word(to_device_sequence);
  std::atomic_ref<std::uint32_t> waiters(s.header.word(to_device_waiters));

  const std::uint32_t seen = s.pf.doorbell_sequence(shm_doorbell::to_device);
  std::vector<error_code> results;
  std::uint32_t observed = 0;
  s.pf.async_wait_doorbell(shm_doorbell::to_device, seen, [&](error_code ec, std::uint32_t now) {
    results.push_back(ec);
    observed = now;
  });
  (void)sleepers_reach(sequence, 1, guard);
  BOOST_TEST_REQUIRE(waiters.load() == 1U);  // the wait's helper sleeps on the sequence
  waiters.store(0);
  s.pf.ring_doorbell(shm_doorbell::to_device);  // sees no waiter: no FUTEX_WAKE
  BOOST_TEST(s.io.run_one_for(guard) == 1U);
  BOOST_TEST_REQUIRE(results.size() == 1U);
  BOOST_TEST(!results[0]);
  BOOST_TEST(observed == seen + 1);
  BOOST_TEST(waiters.load() == 0U);

  // The next wait counts as a sleeper while it sleeps, so a ring wakes it.
  s.pf.async_wait_doorbell(shm_doorbell::to_device, observed, [&](error_code ec, std::uint32_t now) {
    results.push_back(ec);
    observed = now;
  });
  (void)sleepers_reach(sequence, 1, guard);
  BOOST_TEST(waiters.load() == 1U);
  s.pf.ring_doorbell(shm_doorbell::to_device);
  s.io.restart();
  BOOST_TEST(s.io.run_one_for(guard) == 1U);
  BOOST_TEST_REQUIRE(results.size() == 2U);
  BOOST_TEST(!results[1]);
  BOOST_TEST(observed == seen + 2);
  BOOST_TEST(waiters.load() == 0U);
}

// Found by a review: a wait whose helper thread could not start stayed queued, so the view's end completed
// the handler of an initiation that had thrown (for a coroutine, a second resumption); and what it threw
// was std::system_error, not boost::system::system_error as every other failure here.
BOOST_AUTO_TEST_CASE(a_wait_whose_thread_cannot_start_throws_boost_system_error_and_never_completes,
                     *boost::unit_test::precondition(can_refuse_new_threads)) {
  const ::pid_t pid = ::fork();
  BOOST_TEST_REQUIRE(pid >= 0);
  if (pid == 0) {
    // Exit status: 0 as expected; 2 set-up failed; 3 a wait started; 4 another error; 5 another exception;
    // 6 a handler ran. Never returns into the test framework.
    int status = 0;
    int completions = 0;
    try {
      boost::asio::io_context io;
      std::optional<shm_config_space> pf(shm_config_space::create_anonymous(io.get_executor(), 256));
      if (!refuse_new_threads()) ::_exit(2);
      const auto expect_no_thread = [&](auto&& start) {
        if (const int outcome = no_thread_status(start); outcome != 0) status = outcome;
      };
      expect_no_thread([&] {
        pf->async_wait_doorbell(shm_doorbell::to_device, pf->doorbell_sequence(shm_doorbell::to_device),
                                [&](error_code, std::uint32_t) { ++completions; });
      });
      expect_no_thread([&] { pf->async_wait_peer_gone([&](error_code) { ++completions; }); });
      (void)io.poll();
      pf.reset();  // ends every wait of the view
      io.restart();
      (void)io.poll();
    } catch (...) {
      status = 2;
    }
    ::_exit(completions != 0 ? 6 : status);
  }
  vpci::test::child_process child(pid);
  BOOST_TEST(child.wait_exit() == 0);
}

// Found by a review: create() and open() documented boost::system::system_error for a presence thread that
// could not start, and threw std::system_error.
BOOST_AUTO_TEST_CASE(create_and_open_throw_boost_system_error_when_the_presence_thread_cannot_start,
                     *boost::unit_test::precondition(can_refuse_new_threads)) {
  const std::string name = unique_name("nothread");
  const std::string refused_name = unique_name("nothread-create");
  const ::pid_t pid = ::fork();
  BOOST_TEST_REQUIRE(pid >= 0);
  if (pid == 0) {
    // Exit status: 0 as expected; 2 set-up failed; 3 open succeeded or failed otherwise; 4 create
    // succeeded or failed otherwise; 5 create left its name. Never returns into the test framework.
    int status = 0;
    try {
      boost::asio::io_context io;
      const auto pf = shm_config_space::create(io.get_executor(), name, 256);
      if (!refuse_new_threads()) ::_exit(2);
      if (no_thread_status([&] { (void)shm_config_space::open(io.get_executor(), name); }) != 0) status = 3;
      if (no_thread_status([&] { (void)shm_config_space::create(io.get_executor(), refused_name, 256); }) != 0)
        status = 4;
      if (status == 0 && shm_exists(refused_name)) status = 5;
    } catch (...) {
      status = 2;
    }
    ::_exit(status);
  }
  vpci::test::child_process child(pid);
  BOOST_TEST(child.wait_exit() == 0);
  ::shm_unlink(name.c_str());
  ::shm_unlink(refused_name.c_str());
}

// Two processes: the parent is the device (PF), the child maps the space by name as the driver (VF),
// writes a request and rings; the parent wakes on the doorbell, checks the bytes and answers; the child
// wakes on its own doorbell and checks the answer. Bounded waits only guard against a hang.
BOOST_AUTO_TEST_CASE(two_processes_exchange_data_through_a_named_space) {
  boost::asio::io_context io;
  const std::string name = unique_name("fork");
  auto device = shm_config_space::create(io.get_executor(), name, 4096);
  const auto request_rung = device.doorbell_sequence(shm_doorbell::to_device);
  const auto reply_rung = device.doorbell_sequence(shm_doorbell::to_driver);

  const ::pid_t child = ::fork();
  BOOST_TEST_REQUIRE(child >= 0);
  if (child == 0) {
    // The child reports through its exit status only and never returns into the test framework.
    int status = 0;
    try {
      boost::asio::io_context child_io;
      auto driver = shm_config_space::open(child_io.get_executor(), name);
      std::array<std::byte, 12> request{};
      for (std::size_t i = 0; i != request.size(); ++i) request[i] = static_cast<std::byte>(0xA0 + i);
      error_code ec;
      if (driver.write(0x101, request, ec) != request.size() || ec) status = 10;
      const auto woke = driver.wait_for_doorbell(shm_doorbell::to_driver, reply_rung, guard, ec);
      if (status == 0 && (ec || woke != reply_rung + 1)) status = 11;
      std::array<std::byte, 4> reply{};
      if (status == 0 && (driver.read(0x200, reply, ec) != 4 || ec)) status = 12;
      if (status == 0 && numbers(reply) != std::vector<unsigned>{0x0D, 0xF0, 0xAD, 0x8B}) status = 13;
    } catch (...) {
      status = 20;
    }
    ::_exit(status);
  }

  error_code ec;
  const auto woke = device.wait_for_doorbell(shm_doorbell::to_device, request_rung, guard, ec);
  BOOST_TEST(!ec);
  BOOST_TEST(woke == request_rung + 1);  // one write call, one ring
  BOOST_TEST(read_numbers(device, 0x100, 14) ==
                 (std::vector<unsigned>{0, 0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xAB, 0}),
             boost::test_tools::per_element());
  BOOST_TEST(device.write(0x200, bytes({0x0D, 0xF0, 0xAD, 0x8B}), ec) == 4U);  // rings to_driver

  int status = -1;
  BOOST_TEST_REQUIRE(::waitpid(child, &status, 0) == child);
  BOOST_TEST(WIFEXITED(status));
  BOOST_TEST(WEXITSTATUS(status) == 0);
}

// ---- Wake-ups and checks a mutation audit found no test of (each failed on its mutant) ----------------
// A missing FUTEX_WAKE showed before only through the transport's one-second re-check, which the tests'
// ten-second guards hid; here a sleeper is counted on its futex, so "woken" is checked exactly, at once.

// A ring wakes a thread asleep on the doorbell (its FUTEX_WAKE): once ring_doorbell returns, nobody sleeps
// on the doorbell any more.
BOOST_AUTO_TEST_CASE(a_ring_wakes_a_sleeping_doorbell_waiter_at_once) {
  named_space s("ring");
  std::uint32_t& sequence = s.header.word(to_device_sequence);
  const std::uint32_t seen = s.pf.doorbell_sequence(shm_doorbell::to_device);
  std::vector<error_code> results;
  s.pf.async_wait_doorbell(shm_doorbell::to_device, seen, [&](error_code ec, std::uint32_t) { results.push_back(ec); });
  BOOST_TEST_REQUIRE(sleepers_reach(sequence, 1, guard));
  s.pf.ring_doorbell(shm_doorbell::to_device);
  BOOST_TEST(futex_sleepers(sequence, seen + 1) == 0);
  BOOST_TEST(s.io.run_one_for(guard) == 1U);
  BOOST_TEST_REQUIRE(results.size() == 1U);
  BOOST_TEST(!results[0]);
}

// A driver's write rings to_device and wakes the device's waiter the same way.
BOOST_AUTO_TEST_CASE(a_driver_write_wakes_the_devices_doorbell_waiter_at_once) {
  named_space s("write-ring");
  auto vf = shm_config_space::open(s.io.get_executor(), s.name);
  std::uint32_t& sequence = s.header.word(to_device_sequence);
  const std::uint32_t seen = s.pf.doorbell_sequence(shm_doorbell::to_device);
  std::vector<error_code> results;
  s.pf.async_wait_doorbell(shm_doorbell::to_device, seen, [&](error_code ec, std::uint32_t) { results.push_back(ec); });
  BOOST_TEST_REQUIRE(sleepers_reach(sequence, 1, guard));
  const std::byte value{0x5A};
  error_code ec;
  BOOST_TEST(vf.write(0x40, std::span(&value, 1), ec) == 1U);
  BOOST_TEST(!ec);
  BOOST_TEST(futex_sleepers(sequence, seen + 1) == 0);
  BOOST_TEST(s.io.run_one_for(guard) == 1U);
  BOOST_TEST_REQUIRE(results.size() == 1U);
}

// A device waiting for its drivers to go, none attached yet, sleeps on "a driver has attached"; the first
// driver's attach wakes it, so that it goes on to watch that driver.
BOOST_AUTO_TEST_CASE(the_first_driver_to_attach_wakes_a_device_waiting_for_its_drivers) {
  named_space s("attach");
  std::uint32_t& attached = s.header.word(driver_attached);
  std::vector<error_code> gone;
  s.pf.async_wait_peer_gone([&](error_code ec) { gone.push_back(ec); });
  BOOST_TEST_REQUIRE(sleepers_reach(attached, 1, guard));
  BOOST_TEST(s.header.load(driver_attached) == 0U);
  {
    const auto vf = shm_config_space::open(s.io.get_executor(), s.name);
    BOOST_TEST(s.header.load(driver_attached) == 1U);
    BOOST_TEST(futex_sleepers(attached, 1) == 0);
    BOOST_TEST(s.pf.peer_alive());
  }
  BOOST_TEST(!s.pf.peer_alive());
  BOOST_TEST(s.io.run_one_for(guard) == 1U);
  BOOST_TEST_REQUIRE(gone.size() == 1U);
  BOOST_TEST(!gone[0]);
}

// A driver that detaches wakes the device's watcher asleep on its presence word.
BOOST_AUTO_TEST_CASE(a_driver_that_detaches_wakes_the_device_watching_it_at_once) {
  named_space s("detach");
  std::uint32_t& slot0 = s.header.word(driver_word(0));
  std::optional<shm_config_space> vf(shm_config_space::open(s.io.get_executor(), s.name));
  std::vector<error_code> gone;
  s.pf.async_wait_peer_gone([&](error_code ec) { gone.push_back(ec); });
  BOOST_TEST_REQUIRE(sleepers_reach(slot0, 1, guard));
  vf.reset();
  BOOST_TEST(s.header.load(driver_word(0)) == static_cast<std::uint32_t>(FUTEX_OWNER_DIED));
  BOOST_TEST(futex_sleepers(slot0) == 0);
  BOOST_TEST(s.io.run_one_for(guard) == 1U);
  BOOST_TEST_REQUIRE(gone.size() == 1U);
  BOOST_TEST(!gone[0]);
}

// A driver refused because it asked to be alone leaves no mark: a later holder of its word that writes no
// mark (code from before the marks) shares the space, and a third, shared driver is not refused for the
// refused one's old mark.
BOOST_AUTO_TEST_CASE(a_refused_exclusive_driver_leaves_no_mark_that_refuses_later_drivers) {
  named_space s("mark");
  const auto shared = shm_config_space::open(s.io.get_executor(), s.name);  // driver word 0
  try {
    (void)shm_config_space::open(s.io.get_executor(), s.name, shm_role::driver, shm_access::read_write,
                                 vpci::shm_sharing::exclusive);  // claims word 1, is refused, lets it go
    BOOST_FAIL("an exclusive driver beside a shared one was not refused");
  } catch (const boost::system::system_error& e) {
    BOOST_TEST((e.code() == errc::in_use));
  }
  BOOST_TEST(s.header.load(exclusive_drivers) == 0U);
  // A driver that writes no mark holds word 1 (its thread's number in the word, as a claim leaves it).
  std::atomic_ref<std::uint32_t> word1(s.header.word(driver_word(1)));
  word1.store(static_cast<std::uint32_t>(::syscall(SYS_gettid)));
  std::optional<error_code> refused;
  try {
    const auto third = shm_config_space::open(s.io.get_executor(), s.name);  // word 2
  } catch (const boost::system::system_error& e) {
    refused = e.code();
  }
  word1.store(FUTEX_OWNER_DIED);  // that driver leaves
  BOOST_TEST(!refused.has_value());
}

// Only objects of exactly 256 + 2 * 256 or 256 + 2 * 4096 bytes are vpci config spaces: one of another
// length is refused with bad_data even when its header says "vpci", layout 2, the size its length would
// give and a present device (the space's size comes from the length, the header only confirms it).
BOOST_AUTO_TEST_CASE(an_object_of_another_length_is_refused_whatever_its_header_says) {
  const std::string name = unique_name("length");
  const std::size_t length = 1000;  // (1000 - 256) / 2 = 372: neither 256 nor 4096
  const int fd = ::shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  BOOST_TEST_REQUIRE(fd >= 0);
  BOOST_TEST_REQUIRE(::ftruncate(fd, static_cast<::off_t>(length)) == 0);
  void* base = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  BOOST_TEST_REQUIRE(base != MAP_FAILED);
  auto* words = static_cast<std::uint32_t*>(base);
  words[1] = 2;
  words[2] = 372;
  words[192 / 4] = static_cast<std::uint32_t>(::syscall(SYS_gettid));
  std::atomic_ref<std::uint32_t>(words[0]).store(0x69637076);
  boost::asio::io_context io;
  std::optional<error_code> failed;
  std::size_t opened_size = 0;
  try {
    const auto vf = shm_config_space::open(io.get_executor(), name);
    opened_size = vf.size();
  } catch (const boost::system::system_error& e) {
    failed = e.code();
  }
  ::munmap(base, length);
  ::shm_unlink(name.c_str());
  BOOST_TEST(opened_size == 0U);
  BOOST_TEST_REQUIRE(failed.has_value());
  BOOST_TEST((*failed == errc::bad_data));
}

// One signal per update: write_unsignalled (and write with shm_ring::none) stores the bytes and rings no
// doorbell; signal_peer then rings the other side's doorbell exactly once.
BOOST_AUTO_TEST_CASE(an_unsignalled_write_rings_nothing_until_the_update_is_signalled) {
  boost::asio::io_context io;
  auto pf = shm_config_space::create_anonymous(io.get_executor(), 256);
  auto vf = pf.view(io.get_executor(), shm_role::driver);
  const std::uint32_t to_driver = pf.doorbell_sequence(shm_doorbell::to_driver);
  const std::uint32_t to_device = pf.doorbell_sequence(shm_doorbell::to_device);
  const std::array<std::byte, 4> value{std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}};
  error_code ec;
  BOOST_TEST(pf.write_unsignalled(0x40, value, ec) == 4U);
  BOOST_TEST(!ec);
  BOOST_TEST(pf.write(0x44, value, ec, vpci::shm_ring::none) == 4U);
  BOOST_TEST(vf.write_unsignalled(0x48, value, ec) == 4U);
  BOOST_TEST(pf.doorbell_sequence(shm_doorbell::to_driver) == to_driver);
  BOOST_TEST(pf.doorbell_sequence(shm_doorbell::to_device) == to_device);
  std::array<std::byte, 4> out{};
  BOOST_TEST(vf.read(0x44, out, ec) == 4U);
  BOOST_TEST((out == value));
  pf.signal_peer();
  BOOST_TEST(pf.doorbell_sequence(shm_doorbell::to_driver) == to_driver + 1);
  BOOST_TEST(pf.doorbell_sequence(shm_doorbell::to_device) == to_device);
  vf.signal_peer();
  BOOST_TEST(pf.doorbell_sequence(shm_doorbell::to_device) == to_device + 1);
}

BOOST_AUTO_TEST_SUITE_END()  // shm_config_space_test
