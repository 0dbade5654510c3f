// vpci-inspect --vfio-user SOCKET shows the config space of a device served over vfio-user: a forked
// child serves a vpci PF's VF (listening before the fork, so nothing waits on time), the parent runs the
// inspect binary (VPCI_INSPECT) against the socket.
#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>

#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include <vpci/asio/vfio_user_device_server.hpp>
#include <vpci/vpci.hpp>

#include "../examples/blocks.hpp"
#include "test_support.hpp"

BOOST_AUTO_TEST_SUITE(vfio_user_inspect_test)

using namespace vpci;
using namespace vpci::test;
using protocol = boost::asio::local::stream_protocol;

namespace {

std::string run(const std::string& command, int& status) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buffer[4096];
  std::size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) != 0) out.append(buffer, n);
  status = ::pclose(pipe);
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(inspect_shows_the_mailbox_over_vfio_user) {
  const char* inspect = std::getenv("VPCI_INSPECT");
  if (inspect == nullptr) {
    BOOST_TEST_MESSAGE("VPCI_INSPECT not set: run through ctest");
    return;
  }
  const std::string path = "/tmp/vpci-vfio-user-inspect-" + std::to_string(::getpid());
  ::unlink(path.c_str());
  boost::asio::io_context io;
  protocol::acceptor acceptor(io, protocol::endpoint(path));
  const pid_t child = fork();
  BOOST_REQUIRE(child >= 0);
  if (child == 0) {
    int result = 90;
    try {
      vfio_user_device_space space(io);
      // 1234:5650 with a PCI Express capability at 0x40: the mailbox lives in the extended space, which
      // only a PCIe (or PCI-X) function has.
      bytes header(0x44);
      header[0x00] = std::byte{0x34};
      header[0x01] = std::byte{0x12};
      header[0x02] = std::byte{0x50};
      header[0x03] = std::byte{0x56};
      header[0x06] = std::byte{0x10};  // status: capability list
      header[0x34] = std::byte{0x40};
      header[0x40] = std::byte{0x10};  // PCI Express, the end of the list
      header[0x42] = std::byte{0x02};  // version 2, an endpoint
      pf_endpoint<1> pf;
      result = space.model().device_write(0, header) != no_error ? 91
               : pf.register_vf(0, 1)                            ? 92
               : pf.define<example::mac_block>(0, {1, 2, 3, 4, 5, 6}) ? 93
                                                                      : 0;
      mailbox_options options;
      options.heartbeat = std::chrono::milliseconds(0);
      if (result == 0 && !pf.attach_mailbox(0, space, options)) result = 94;
      if (result == 0) {
        vfio_user_device_server server(space);
        protocol::socket client(io);
        acceptor.accept(client);
        boost::system::error_code served = make_error_code(errc::device_error);
        server.async_serve(std::move(client), [&](boost::system::error_code ec) { served = ec; });
        io.run();
        result = served ? 95 : 0;
      }
    } catch (...) {
      result = 99;
    }
    std::_Exit(result);
  }
  acceptor.close();
  int status = -1;
  const std::string out = run(std::string("'") + inspect + "' --json --vfio-user '" + path + "'", status);
  int child_status = 0;
  BOOST_REQUIRE(waitpid(child, &child_status, 0) == child);
  ::unlink(path.c_str());
  BOOST_TEST(WIFEXITED(status));
  BOOST_TEST(WEXITSTATUS(status) == 0);
  BOOST_TEST(WIFEXITED(child_status));
  BOOST_TEST(WEXITSTATUS(child_status) == 0);
  BOOST_TEST_INFO(out);
  BOOST_TEST(out.find("\"dvsec_id\":\"0x5650\"") != std::string::npos);  // the mailbox window's DVSEC
  BOOST_TEST(out.find("\"mailbox\":{\"offset\":\"0x100\",\"layout\":2") != std::string::npos);
  BOOST_TEST(out.find("\"state\":\"idle\"") != std::string::npos);
  // A socket nobody listens on: a message and exit status 1.
  const std::string none = run(std::string("'") + inspect + "' --vfio-user '" + path + "' 2>/dev/null", status);
  BOOST_TEST(WEXITSTATUS(status) == 1);
}

BOOST_AUTO_TEST_SUITE_END()  // vfio_user_inspect_test
