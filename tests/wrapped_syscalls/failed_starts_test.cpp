// Objects that hold descriptors and then start something that can fail (a thread when the process is at
// its limit: EAGAIN; listen(2); the reactor's epoll_ctl: ENOSPC when the user's epoll watches run out):
// when the start fails, what they opened is closed and nothing is left on disk. Built into
// vpci_wrapped_syscall_tests, whose wrapped pthread_create, listen and epoll_ctl fail once when a test says
// so (wrapped_io.hpp: only calls compiled into the tests are wrapped, so a thread std::thread starts, inside
// libstdc++, cannot be failed here). The descriptors are counted in /proc/self/fd.
#include <boost/test/unit_test.hpp>

#include <cerrno>
#include <cstring>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/system/system_error.hpp>

#include <vpci/transport/sysfs_config_space.hpp>

#include "conformance/self_pf.hpp"
#include "temp_config_file.hpp"
#include "unix_socket_file.hpp"
#include "wrapped_io.hpp"

BOOST_FIXTURE_TEST_SUITE(failed_starts_test, vpci::test::wrapped_io::no_file_chosen)

using namespace vpci;
using boost::system::error_code;
using vpci::test::temp_config_file;
namespace wrapped_io = vpci::test::wrapped_io;

namespace {

std::size_t open_descriptors() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

const error_code eagain{EAGAIN, boost::system::system_category()};

}  // namespace

// sysfs_config_space::open kept the file's descriptor before it started its worker: a worker that could not
// start left the descriptor open for good (the constructor threw past it) and open(path, mode, ec) threw
// instead of setting ec, leaving an object open without a worker.
BOOST_AUTO_TEST_CASE(a_sysfs_worker_that_cannot_start_leaves_the_object_and_its_file_closed) {
  temp_config_file file(4096);
  boost::asio::io_context io;
  const std::size_t before = open_descriptors();
  {
    sysfs_config_space space(io.get_executor());
    wrapped_io::fail_next_call(wrapped_io::failing_call::thread_start, EAGAIN);
    error_code ec;
    space.open(file.path(), access_mode::read_write, ec);
    BOOST_TEST((ec == eagain));
    BOOST_TEST(!space.is_open());
    BOOST_TEST(space.size() == 0u);
    BOOST_TEST(open_descriptors() == before);
    space.open(file.path(), access_mode::read_write, ec);  // the next start succeeds
    BOOST_TEST(!ec);
    BOOST_TEST(space.is_open());
  }
  BOOST_TEST(open_descriptors() == before);
  wrapped_io::fail_next_call(wrapped_io::failing_call::thread_start, EAGAIN);
  try {
    sysfs_config_space space(io.get_executor(), file.path());
    BOOST_ERROR("the constructor did not throw");
  } catch (const boost::system::system_error& e) {
    BOOST_TEST((e.code() == eagain));
  }
  BOOST_TEST(open_descriptors() == before);
}

// The tools' socket file (vpci-vfio-user-device): bound, then listen(2) refused. The socket file the bind
// made stayed at the path, and the next start found "something" there.
BOOST_AUTO_TEST_CASE(a_socket_file_that_cannot_listen_is_not_left_at_its_path) {
  const std::filesystem::path directory = std::filesystem::temp_directory_path() / "vpci-failed-listen";
  std::filesystem::create_directories(directory);
  const std::string path = (directory / "device.sock").string();
  std::filesystem::remove(path);
  boost::asio::io_context io;
  {
    boost::asio::local::stream_protocol::acceptor acceptor(io);  // the reactor's own descriptors exist now
    const std::size_t before = open_descriptors();
    wrapped_io::fail_next_call(wrapped_io::failing_call::listen, ENOBUFS);
    BOOST_CHECK_THROW(vpci::tools::unix_socket_file made(acceptor, path), std::runtime_error);
    BOOST_TEST(!std::filesystem::exists(std::filesystem::symlink_status(path)));
    BOOST_TEST(!acceptor.is_open());
    BOOST_TEST(open_descriptors() == before);
    // And the next attempt listens there.
    vpci::tools::unix_socket_file made(acceptor, path);
    BOOST_TEST(acceptor.is_open());
    BOOST_TEST(std::filesystem::is_socket(path));
  }
  BOOST_TEST(!std::filesystem::exists(std::filesystem::symlink_status(path)));
  std::filesystem::remove_all(directory);
}

// vpci-conformance --self (binding 2): a stream whose PF end the reactor could not register (epoll_ctl:
// ENOSPC) left that end open for as long as the PF lived.
BOOST_AUTO_TEST_CASE(the_conformance_self_pf_closes_a_stream_end_it_could_not_register) {
  vpci::conformance::self_stream_pf pf(vpci::conformance::default_profile());
  BOOST_TEST_REQUIRE(pf.setup_error().empty());
  std::string error;
  const auto first = pf.connect(0, error);  // the PF's reactor exists once a stream is served
  BOOST_TEST_REQUIRE(first != nullptr);
  const std::size_t before = open_descriptors();
  wrapped_io::fail_next_call(wrapped_io::failing_call::epoll_add, ENOSPC);
  BOOST_TEST(pf.connect(1, error) == nullptr);
  BOOST_TEST(error == std::strerror(ENOSPC));
  BOOST_TEST(open_descriptors() == before);
  // The next stream is served.
  error.clear();
  const auto second = pf.connect(1, error);
  BOOST_TEST(second != nullptr);
  BOOST_TEST(error.empty());
}

BOOST_AUTO_TEST_SUITE_END()
