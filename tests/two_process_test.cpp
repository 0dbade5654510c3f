// Both bindings across two processes: the test process is the PF, a forked child is the VF. The child
// reports what it saw through its exit status; the parent checks the PF's side.
#include <boost/test/unit_test.hpp>

#include <array>
#include <chrono>
#include <csignal>
#include <functional>
#include <string>
#include <thread>

#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include <vpci/vpci.hpp>

#include "../examples/blocks.hpp"
#include "test_support.hpp"

BOOST_AUTO_TEST_SUITE(two_process_test)

using namespace vpci;
using namespace std::chrono_literals;
using socket_type = boost::asio::local::stream_protocol::socket;

namespace {

constexpr hyperv::wslot slot{4, 2};
const example::mac_address mac{0x02, 0x00, 0x00, 0x00, 0x00, 0x07};

// Exit codes of the VF child: 0 when everything matched, else the first step that did not.
template <class Endpoint>
int vf_steps(Endpoint& vf, int base) {
  boost::system::error_code ec;
  if (vf.read(example::mac_block{}, ec) != mac || ec) return base + 1;
  example::vf_config config = vf.read(example::vf_config_block{}, ec);
  if (ec || config.mtu != 1500) return base + 2;
  config.mtu = 4321;
  if (vf.write(example::vf_config_block{}, config, ec) != example::vf_config_block::size || ec) return base + 3;
  std::array<std::byte, 4> small{};
  vf.read_block(example::mac_block::id, small, ec);
  if (ec != errc::buffer_too_small) return base + 4;
  return 0;
}

int wait_child(pid_t child) {
  int status = 0;
  if (waitpid(child, &status, 0) != child || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

void define_blocks(pf_endpoint<2>& pf) {
  BOOST_REQUIRE(!pf.register_vf(0, 0x0101));
  BOOST_REQUIRE(!pf.define<example::mac_block>(0, mac, block_access::read_only));
  BOOST_REQUIRE(!pf.define<example::vf_config_block>(0, {1, example::vf_flags::none, 1500, 0, 2}));
}

}  // namespace

BOOST_AUTO_TEST_CASE(mailbox_over_named_shared_memory) {
  const std::string name = "/vpci-test-" + std::to_string(::getpid());
  boost::asio::io_context io;
  auto device = shm_config_space::create(io.get_executor(), name, 4096);
  pf_endpoint<2> pf;
  define_blocks(pf);
  BOOST_REQUIRE(pf.attach_mailbox(0, device).has_value());
  // The child's exit ends serving (installed before the fork: an early exit is not missed).
  boost::asio::signal_set child_exit(io, SIGCHLD);
  const pid_t child = fork();
  BOOST_REQUIRE(child >= 0);
  if (child == 0) {
    int result = 90;
    try {
      boost::asio::io_context vf_io;
      auto space = shm_config_space::open(vf_io.get_executor(), name, shm_role::driver);
      std::array<std::byte, 4096> snapshot{};
      boost::system::error_code ec;
      space.read(0, snapshot, ec);
      auto window = config::find_mailbox(snapshot);
      result = ec || !window ? 91 : 0;
      if (result == 0) {
        vf_endpoint<shm_config_space> vf(space, *window);
        result = vf_steps(vf, 10);
      }
    } catch (...) {
      result = 99;
    }
    std::_Exit(result);
  }
  int status = -2;
  std::function<void(boost::system::error_code, int)> on_signal = [&](boost::system::error_code ec, int) {
    int raw = 0;
    if (!ec && waitpid(child, &raw, WNOHANG) != child) return child_exit.async_wait(on_signal);
    status = ec ? -3 : WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    (void)pf.detach_mailbox(0);
  };
  child_exit.async_wait(on_signal);
  boost::system::error_code served = errc::timeout;
  pf.async_serve(0, [&](boost::system::error_code ec) { served = ec; });
  io.run();  // serves the VF process on the doorbell until it exits
  BOOST_TEST(!served);
  BOOST_TEST(status == 0);
  BOOST_TEST(pf.load<example::vf_config_block>(0)->mtu == 4321u);
}

BOOST_AUTO_TEST_CASE(hyperv_messages_over_a_socket_pair) {
  int fds[2];
  BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
  pf_endpoint<2> pf;
  define_blocks(pf);
  const pid_t child = fork();
  BOOST_REQUIRE(child >= 0);
  if (child == 0) {
    ::close(fds[0]);
    int result = 90;
    try {
      boost::asio::io_context vf_io;
      socket_type socket(vf_io, boost::asio::local::stream_protocol(), fds[1]);
      vf_message_endpoint<socket_type> vf(socket, slot);
      auto guard = boost::asio::make_work_guard(vf_io);
      std::thread runner([&] { vf_io.run(); });  // the synchronous forms wait on another thread
      result = vf_steps(vf, 20);
      boost::asio::post(vf_io, [&] { vf.close(); });
      guard.reset();
      runner.join();
    } catch (...) {
      result = 99;
    }
    std::_Exit(result);
  }
  ::close(fds[1]);
  boost::asio::io_context io;
  socket_type socket(io, boost::asio::local::stream_protocol(), fds[0]);
  boost::system::error_code served = make_error_code(errc::device_error);
  pf.async_serve(0, slot, socket, [&](boost::system::error_code ec) { served = ec; });
  io.run();  // until the VF closes its end
  BOOST_TEST(wait_child(child) == 0);
  BOOST_TEST(!served);
  BOOST_TEST(pf.load<example::vf_config_block>(0)->mtu == 4321u);
  BOOST_TEST(pf.blocks().in_flight(0) == 0u);
}

BOOST_AUTO_TEST_SUITE_END()  // two_process_test
