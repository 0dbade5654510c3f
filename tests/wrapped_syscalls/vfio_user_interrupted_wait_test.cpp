// vpci::vfio_user_config_space's blocking wait for the device's interrupt (wait_peer_signal) when the
// process takes signals while it waits: poll(2) fails with EINTR (Linux never restarts it, SA_RESTART or
// not), and the wait must go on for the rest of its timeout, not start it again. A process with an interval
// timer or a profiler had its wait begun afresh at every signal and never got its timeout. Built into
// vpci_wrapped_syscall_tests, whose wrapped poll interrupts the waits on an eventfd (wrapped_io.hpp), under
// the client's virtual time: the test moves the clock where the signal's handler would have taken time.
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstdint>
#include <vector>

#include <sys/socket.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include <vpci/asio/timing.hpp>
#include <vpci/asio/vfio_user_device_server.hpp>
#include <vpci/error.hpp>
#include <vpci/transport/vfio_user_config_space.hpp>

#include "wrapped_io.hpp"

BOOST_FIXTURE_TEST_SUITE(vfio_user_interrupted_wait_test, vpci::test::wrapped_io::no_file_chosen)

using namespace vpci;
using namespace std::chrono_literals;
using boost::system::error_code;
namespace wrapped_io = vpci::test::wrapped_io;

namespace {

// vpci's device server and a client on virtual time, connected, the interrupt installed.
struct interrupt_fixture {
  using client_type = basic_vfio_user_config_space<manual_timing>;
  boost::asio::io_context io;
  manual_timing clock;
  vfio_user_device_space space{io};
  vfio_user_device_server server{space};
  client_type client{io, vfio_user_client_options<manual_timing>{1s, clock}};

  interrupt_fixture() {
    int fds[2];
    BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    boost::asio::local::stream_protocol::socket client_end(io), server_end(io);
    client_end.assign(boost::asio::local::stream_protocol(), fds[0]);
    server_end.assign(boost::asio::local::stream_protocol(), fds[1]);
    server.async_serve(std::move(server_end), [](error_code) {});
    bool opened = false;
    error_code open_error = errc::device_error;
    client.async_open(std::move(client_end), [&](error_code ec) {
      open_error = ec;
      opened = true;
    });
    for (int turns = 0; turns < 10000 && !opened; ++turns) {
      io.restart();
      io.run_one();
    }
    BOOST_REQUIRE(opened);
    BOOST_REQUIRE(!open_error);
    BOOST_REQUIRE(client.interrupt_installed());
  }
};

}  // namespace

// Signals every 30 ms during a 100 ms wait: the wait ends with errc::timeout once its 100 ms have passed
// (at the fourth interrupted poll, 120 ms), having polled for what was left each time.
BOOST_AUTO_TEST_CASE(a_signal_wait_interrupted_by_signals_ends_at_its_timeout_not_a_whole_timeout_after_the_last) {
  interrupt_fixture f;
  const std::uint32_t seen = f.client.peer_signal_sequence();
  const std::uint64_t start = f.clock.now();
  wrapped_io::interrupt_eventfd_polls(10, [&] { f.clock.advance(30ms); });
  error_code ec;
  BOOST_TEST(f.client.wait_peer_signal(seen, 100ms, ec) == seen);
  BOOST_TEST((ec == errc::timeout));
  BOOST_TEST(wrapped_io::eventfd_polls() == 4);
  BOOST_TEST(f.clock.now() - start == std::uint64_t{120'000'000});
}

// Virtual time is the client's Timing: a wait without a signal moves that clock to its timeout, as the
// client's other blocking waits do, instead of blocking the thread for the timeout in real time.
BOOST_AUTO_TEST_CASE(a_signal_wait_on_virtual_time_moves_the_clock_to_its_timeout) {
  interrupt_fixture f;
  const std::uint32_t seen = f.client.peer_signal_sequence();
  const std::uint64_t start = f.clock.now();
  error_code ec;
  BOOST_TEST(f.client.wait_peer_signal(seen, 250ms, ec) == seen);
  BOOST_TEST((ec == errc::timeout));
  BOOST_TEST(f.clock.now() - start == std::uint64_t{250'000'000});
  const std::vector<int> timeouts = wrapped_io::eventfd_poll_timeouts();
  BOOST_TEST_REQUIRE(!timeouts.empty());
  for (const int timeout : timeouts) BOOST_TEST(timeout == 0);
}

// The device's interrupt raised while a signal interrupts the wait ends it as soon as the wait looks again,
// with the new count.
BOOST_AUTO_TEST_CASE(an_interrupt_raised_during_an_interrupted_poll_ends_the_wait_with_the_new_count) {
  interrupt_fixture f;
  const std::uint32_t seen = f.client.peer_signal_sequence();
  int interrupted = 0;
  wrapped_io::interrupt_eventfd_polls(5, [&] {
    f.clock.advance(10ms);
    if (++interrupted == 2) f.space.signal_peer();
  });
  error_code ec;
  BOOST_TEST(f.client.wait_peer_signal(seen, 1s, ec) == seen + 1);
  BOOST_TEST(!ec);
  BOOST_TEST(wrapped_io::eventfd_polls() == 2);
}

BOOST_AUTO_TEST_SUITE_END()
