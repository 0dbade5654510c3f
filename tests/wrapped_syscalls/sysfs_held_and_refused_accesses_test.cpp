// vpci::sysfs_config_space's worker and errors when the kernel holds or refuses an access: an access that
// sleeps in the kernel (Linux holds config access through a function reset) keeps the operations queued
// behind it queued, so cancelling one or closing the object must end it without an access; and an
// access the kernel refuses reports the kernel's errno. Built into vpci_wrapped_syscall_tests, whose
// wrapped pread and pwrite hold or fail the accesses of a regular file standing in for the sysfs one.
#include <boost/test/unit_test.hpp>

#include <array>
#include <cerrno>
#include <cstddef>
#include <optional>
#include <utility>
#include <vector>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/system/error_code.hpp>

#include <vpci/transport/sysfs_config_space.hpp>

#include "temp_config_file.hpp"
#include "wrapped_io.hpp"

BOOST_FIXTURE_TEST_SUITE(sysfs_held_and_refused_accesses_test, vpci::test::wrapped_io::no_file_chosen)

using namespace vpci;
using boost::system::error_code;
using vpci::test::temp_config_file;
namespace wrapped_io = vpci::test::wrapped_io;

namespace {

using completion = std::optional<std::pair<error_code, std::size_t>>;

// A space over a stand-in file of 4096 numbered bytes, opened with `mode`, the file chosen for the
// wrappers.
struct chosen_space {
  explicit chosen_space(access_mode mode) {
    error_code ec;
    space.open(file.path(), mode, ec);
    BOOST_TEST_REQUIRE(!ec);
    wrapped_io::choose(file.path());
  }
  temp_config_file file{4096};
  boost::asio::io_context io;
  sysfs_config_space space{io.get_executor()};
};

std::vector<std::byte> bytes_at(const std::vector<std::byte>& v, std::size_t offset, std::size_t n) {
  return {v.begin() + static_cast<std::ptrdiff_t>(offset), v.begin() + static_cast<std::ptrdiff_t>(offset + n)};
}

}  // namespace

// A read waits on the worker behind one the kernel holds; cancelled there, it completes with
// operation_aborted once the worker reaches it, and makes no access. The held one completes with its
// bytes.
BOOST_AUTO_TEST_CASE(a_queued_access_cancelled_before_the_worker_reaches_it_completes_aborted_without_an_access) {
  chosen_space chosen(access_mode::read_only);
  temp_config_file& file = chosen.file;
  boost::asio::io_context& io = chosen.io;
  sysfs_config_space& space = chosen.space;
  wrapped_io::hold();

  std::array<std::byte, 4> held_bytes{}, queued_bytes{};
  completion held, queued;
  space.async_read(0x100, held_bytes, [&](error_code e, std::size_t n) { held.emplace(e, n); });
  wrapped_io::wait_held(1);  // the worker is inside the first read's pread
  boost::asio::cancellation_signal cancel;
  space.async_read(0x104, queued_bytes,
                   boost::asio::bind_cancellation_slot(cancel.slot(), [&](error_code e, std::size_t n) { queued.emplace(e, n); }));
  cancel.emit(boost::asio::cancellation_type::terminal);
  wrapped_io::release();
  io.run();

  BOOST_REQUIRE(held.has_value());
  BOOST_TEST(!held->first);
  BOOST_TEST(held->second == 4u);
  BOOST_TEST((std::vector<std::byte>(held_bytes.begin(), held_bytes.end()) == bytes_at(file.original(), 0x100, 4)));
  BOOST_REQUIRE(queued.has_value());
  BOOST_TEST(queued->first == error_code(boost::asio::error::operation_aborted));
  BOOST_TEST(queued->second == 0u);
  BOOST_TEST(wrapped_io::accesses() == 1);  // the held read's only
}

// close() flags the operations queued behind the one running, then waits for the worker: the running one
// ends with its bytes, and the queued write completes with operation_aborted, the file untouched.
BOOST_AUTO_TEST_CASE(close_ends_the_operations_queued_behind_a_held_access_aborted_without_an_access) {
  chosen_space chosen(access_mode::read_write);
  temp_config_file& file = chosen.file;
  boost::asio::io_context& io = chosen.io;
  sysfs_config_space& space = chosen.space;
  wrapped_io::hold();

  std::array<std::byte, 4> held_bytes{};
  const std::array<std::byte, 4> ones{std::byte{0xFF}, std::byte{0xFF}, std::byte{0xFF}, std::byte{0xFF}};
  completion held, queued;
  space.async_read(0x100, held_bytes, [&](error_code e, std::size_t n) { held.emplace(e, n); });
  wrapped_io::wait_held(1);
  space.async_write(0x10, ones, [&](error_code e, std::size_t n) { queued.emplace(e, n); });
  // The kernel lets the held read go only once close() waits for the worker, after it flagged the write.
  wrapped_io::on_next_join([] { wrapped_io::release(); });
  space.close();
  io.run();

  BOOST_REQUIRE(held.has_value());
  BOOST_TEST(!held->first);
  BOOST_TEST(held->second == 4u);
  BOOST_REQUIRE(queued.has_value());
  BOOST_TEST(queued->first == error_code(boost::asio::error::operation_aborted));
  BOOST_TEST(queued->second == 0u);
  BOOST_TEST(wrapped_io::accesses() == 1);
  BOOST_TEST(file.on_disk() == file.original(), "nothing written");
}

// A kernel in lockdown refuses every config write with EPERM; an access may also fail with EIO. Each is
// reported with the kernel's errno (not a code of vpci's), writes nothing, and lasts no longer than the
// access: the next one is made.
BOOST_AUTO_TEST_CASE(an_access_the_kernel_refuses_reports_its_errno_and_the_next_one_is_made) {
  chosen_space chosen(access_mode::read_write);
  temp_config_file& file = chosen.file;
  sysfs_config_space& space = chosen.space;
  wrapped_io::fail_from(0, EPERM);
  error_code ec;
  const std::array<std::byte, 4> ones{std::byte{0xFF}, std::byte{0xFF}, std::byte{0xFF}, std::byte{0xFF}};
  BOOST_TEST(space.write(0x10, ones, ec) == 0u);
  BOOST_TEST(ec == error_code(EPERM, boost::system::system_category()));
  BOOST_TEST(!space.lasting_failure());
  BOOST_TEST(file.on_disk() == file.original(), "nothing written");

  wrapped_io::fail_from(2, EIO);  // the read's first dword is read, its second fails
  std::array<std::byte, 8> two_words{};
  BOOST_TEST(space.read(0x100, two_words, ec) == 0u);
  BOOST_TEST(ec == error_code(EIO, boost::system::system_category()));
  BOOST_TEST(!space.lasting_failure());
  BOOST_TEST(wrapped_io::accesses() == 3);  // the write's, then the read's two dwords

  wrapped_io::forget();
  BOOST_TEST(space.read(0x100, two_words, ec) == 8u);
  BOOST_TEST(!ec);
}

BOOST_AUTO_TEST_SUITE_END()
