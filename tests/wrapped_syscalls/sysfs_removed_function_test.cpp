// vpci::sysfs_config_space when Linux removes the function under an open config file (hot unplug, VF
// Enable cleared through sriov_numvfs): kernfs then fails every read and write of the file with ENODEV,
// for good. Built into vpci_wrapped_syscall_tests, whose wrapped pread and pwrite answer so for a regular
// file standing in for the sysfs one (wrapped_io.hpp).
#include <boost/test/unit_test.hpp>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/system/error_code.hpp>

#include <vpci/asio/pf_endpoint.hpp>
#include <vpci/asio/vf_endpoint.hpp>
#include <vpci/transport/memory_config_space.hpp>
#include <vpci/transport/sysfs_config_space.hpp>

#include "temp_config_file.hpp"
#include "wrapped_io.hpp"

BOOST_FIXTURE_TEST_SUITE(sysfs_removed_function_test, vpci::test::wrapped_io::no_file_chosen)

using namespace vpci;
using boost::system::error_code;
using vpci::test::temp_config_file;
namespace wrapped_io = vpci::test::wrapped_io;

namespace {

const error_code enodev{ENODEV, boost::system::system_category()};

// The function of `file` is gone from its `after`-th access on (0: the next one).
void remove_function(const temp_config_file& file, long after = 0) {
  wrapped_io::choose(file.path());
  wrapped_io::fail_from(after, ENODEV);
}
}  // namespace

// The first access after the removal reaches the kernel and fails with ENODEV; from then on the object's
// lasting_failure() is ENODEV and every access (read, write, asynchronous) fails with it at once, the file
// untouched; opening the file again (a function back at the address) clears it.
BOOST_AUTO_TEST_CASE(after_the_first_enodev_every_access_fails_with_it_without_a_system_call) {
  temp_config_file file(4096);
  boost::asio::io_context io;
  sysfs_config_space space(io.get_executor());
  error_code ec;
  space.open(file.path(), access_mode::read_write, ec);
  BOOST_TEST_REQUIRE(!ec);
  std::array<std::byte, 4> word{};
  BOOST_TEST(space.read(0x100, word, ec) == 4u);
  BOOST_TEST(!ec);
  BOOST_TEST(!space.lasting_failure());

  remove_function(file);
  BOOST_TEST(space.read(0x104, word, ec) == 0u);
  BOOST_TEST(ec == enodev);
  BOOST_TEST(space.lasting_failure() == enodev);
  BOOST_TEST(wrapped_io::failed() == 1);

  BOOST_TEST(space.read(0x00, word, ec) == 0u);
  BOOST_TEST(ec == enodev);
  const std::array<std::byte, 4> ones{std::byte{0xFF}, std::byte{0xFF}, std::byte{0xFF}, std::byte{0xFF}};
  BOOST_TEST(space.write(0x10, ones, ec) == 0u);
  BOOST_TEST(ec == enodev);
  std::optional<error_code> async_result;
  space.async_read(0x08, word, [&](error_code e, std::size_t n) {
    async_result = e;
    BOOST_TEST(n == 0u);
  });
  io.run();
  BOOST_REQUIRE(async_result.has_value());
  BOOST_TEST(*async_result == enodev);
  BOOST_TEST(wrapped_io::failed() == 1);  // none of the three made a system call
  BOOST_TEST(file.on_disk() == file.original(), "nothing written");

  wrapped_io::forget();
  space.open(file.path(), access_mode::read_only, ec);
  BOOST_TEST_REQUIRE(!ec);
  BOOST_TEST(!space.lasting_failure());
  BOOST_TEST(space.read(0x100, word, ec) == 4u);
  BOOST_TEST(!ec);
}

// open() reads the file to learn how much of it this opener is shown. A function removed before that
// failed open() with a success and size() 0, so every read then failed with EACCES ("get privilege"); the
// read's ENODEV is open()'s error now, the object left closed.
BOOST_AUTO_TEST_CASE(open_fails_with_enodev_when_the_function_is_removed_before_its_size_is_read) {
  temp_config_file file(4096);
  boost::asio::io_context io;
  sysfs_config_space space(io.get_executor());
  remove_function(file);
  error_code ec;
  space.open(file.path(), access_mode::read_only, ec);
  BOOST_TEST(ec == enodev);
  BOOST_TEST(!space.is_open());
  BOOST_TEST(space.size() == 0u);
  BOOST_TEST(space.file_size() == 0u);
  BOOST_TEST(!space.lasting_failure());
  std::array<std::byte, 4> word{};
  BOOST_TEST(space.read(0, word, ec) == 0u);
  BOOST_TEST(ec == error_code(boost::asio::error::bad_descriptor));
}

// A VF endpoint over sysfs waiting for invalidations (it polls the window's status) when its function is
// removed: the wait completed never, polling ENODEV a hundred times a second, failure() empty. It now
// completes with ENODEV at the first access that finds the function gone, failure() says so, and a later
// request fails at once, making no access.
BOOST_AUTO_TEST_CASE(a_vf_endpoint_waiting_for_invalidations_ends_with_enodev_when_its_function_is_removed) {
  // The window as a PF placed it in the VF's config space and then left it (no heartbeat announced, so
  // only the removal can end the wait).
  boost::asio::io_context io;
  memory_config_space model(io, 4096);
  pf_endpoint<1> pf;
  BOOST_TEST_REQUIRE(!pf.register_vf(0, 0x0101));
  mailbox_options options;
  options.heartbeat = std::chrono::milliseconds(0);
  const auto window = pf.attach_mailbox(0, model, options);
  BOOST_TEST_REQUIRE(window.has_value());
  std::vector<std::byte> image(4096);
  error_code ec;
  model.read(0, image, ec);
  BOOST_TEST_REQUIRE(!ec);

  temp_config_file file(image);
  sysfs_config_space space(io.get_executor());
  space.open(file.path(), access_mode::read_write, ec);
  BOOST_TEST_REQUIRE(!ec);
  vf_endpoint<sysfs_config_space> vf(space, *window);

  // The probe of the window and a few polls of status, then the function is gone.
  remove_function(file, 8);
  std::optional<error_code> waited;
  vf.async_wait_invalidate([&](error_code e, block_mask) { waited = e; });
  // Real time only bounds a failure: the wait ends at the ninth access, some 50 ms of polling in.
  const auto guard = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!waited && std::chrono::steady_clock::now() < guard) io.run_one_for(std::chrono::seconds(1));
  BOOST_REQUIRE_MESSAGE(waited.has_value(), "the invalidation wait never completed");
  BOOST_TEST(*waited == enodev);
  BOOST_TEST(vf.failure() == enodev);
  BOOST_TEST(wrapped_io::failed() == 1);

  std::array<std::byte, 4> out{};
  std::optional<error_code> read;
  vf.async_read_block(block_id{1}, out, [&](error_code e, std::size_t) { read = e; });
  io.restart();
  io.poll();
  BOOST_REQUIRE(read.has_value());
  BOOST_TEST(*read == enodev);
  BOOST_TEST(wrapped_io::failed() == 1);
}

BOOST_AUTO_TEST_SUITE_END()
