// The VPCI_INTERFACE_STANDARD facade (vpci::interface_standard): what ReadVfConfigBlock leaves in the
// caller's buffer, the same on both bindings, through the endpoint's synchronous interface() and through
// ioctl_device's (which waits for an executor run by another thread).
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include <vpci/asio/interface_standard.hpp>
#include <vpci/asio/ioctl_device.hpp>
#include <vpci/asio/pf_endpoint.hpp>
#include <vpci/asio/vf_endpoint.hpp>
#include <vpci/asio/vf_message_endpoint.hpp>
#include <vpci/transport/memory_config_space.hpp>

#include "../../examples/blocks.hpp"

BOOST_AUTO_TEST_SUITE(interface_standard_test)

using namespace vpci;
using socket_type = boost::asio::local::stream_protocol::socket;

namespace {

constexpr hyperv::wslot own_slot{2, 1};
constexpr std::uint8_t stale = 0xEE;

// What a caller of ReadVfConfigBlock(Length 128) of the 6-byte MAC block must find, whichever binding:
// the block's bytes, then zeros to Length.
std::vector<std::uint8_t> mac_padded_to_128() {
  std::vector<std::uint8_t> expected(128, 0);
  const std::array<std::uint8_t, 6> mac{0x00, 0x15, 0x5d, 0x01, 0x02, 0x03};
  std::copy(mac.begin(), mac.end(), expected.begin());
  return expected;
}

void define_mac(pf_endpoint<4>& pf) {
  BOOST_REQUIRE(!pf.register_vf(0, 0x0101));
  BOOST_REQUIRE(!pf.define<example::mac_block>(0, {0x00, 0x15, 0x5d, 0x01, 0x02, 0x03}, block_access::read_only));
}

// ReadVfConfigBlock(block 0, Length 128) into a buffer of stale bytes: its status and the buffer after.
std::pair<std::int32_t, std::vector<std::uint8_t>> read_mac_with_length_128(const interface_standard& vpci_if) {
  std::vector<std::uint8_t> buffer(128, stale);
  const std::int32_t status = vpci_if.ReadVfConfigBlock(vpci_if.Context, 0, buffer.data(), 128);
  return {status, buffer};
}

}  // namespace

// VPCI_READ_BLOCK reports no byte count: on binding 1 a block shorter than Length read its own 6 bytes
// and left bytes 6..127 as they were, with STATUS_SUCCESS, where binding 2's PF answers Length bytes
// padded with zeros. The caller must see the same bytes on both.
BOOST_AUTO_TEST_CASE(a_read_of_a_block_shorter_than_length_zeroes_the_rest_of_the_buffer_on_both_bindings) {
  const std::vector<std::uint8_t> expected = mac_padded_to_128();
  {  // binding 1: the config-space mailbox
    boost::asio::io_context io;
    memory_config_space space{io, 4096};
    pf_endpoint<4> pf;
    define_mac(pf);
    const auto window = pf.attach_mailbox(0, space);
    BOOST_REQUIRE(window.has_value());
    vf_endpoint<memory_config_space> vf(space, *window);
    const auto [status, buffer] = read_mac_with_length_128(vf.interface());
    BOOST_TEST(status == 0);
    BOOST_TEST(buffer == expected, boost::test_tools::per_element());
  }
  {  // binding 2: Hyper-V messages, the PF served by another thread
    boost::asio::io_context vf_io;
    boost::asio::io_context pf_io;
    socket_type vf_socket{vf_io};
    socket_type pf_socket{pf_io};
    boost::asio::local::connect_pair(vf_socket, pf_socket);
    pf_endpoint<4> pf;
    define_mac(pf);
    pf.async_serve(0, own_slot, pf_socket, [](boost::system::error_code) {});
    std::thread pf_thread([&] { pf_io.run(); });
    {
      vf_message_endpoint vf(vf_socket, own_slot);
      const auto [status, buffer] = read_mac_with_length_128(vf.interface());
      BOOST_TEST(status == 0);
      BOOST_TEST(buffer == expected, boost::test_tools::per_element());
      vf.close();
    }
    pf_thread.join();
  }
}

// The same through ioctl_device's interface, whose read's Information (6 on binding 1) the caller never
// sees either.
BOOST_AUTO_TEST_CASE(a_read_through_the_ioctl_devices_interface_zeroes_the_rest_of_the_buffer_too) {
  boost::asio::io_context io;
  memory_config_space space{io, 4096};
  pf_endpoint<4> pf;
  define_mac(pf);
  const auto window = pf.attach_mailbox(0, space);
  BOOST_REQUIRE(window.has_value());
  using mailbox_vf = vf_endpoint<memory_config_space>;
  std::optional<mailbox_vf> vf(std::in_place, space, *window);
  std::optional<ioctl_device<mailbox_vf>> device(std::in_place, *vf);
  {
    auto guard = boost::asio::make_work_guard(io);
    std::thread executor([&] { io.run(); });
    const auto [status, buffer] = read_mac_with_length_128(device->interface());
    guard.reset();
    io.stop();
    executor.join();
    BOOST_TEST(status == 0);
    BOOST_TEST(buffer == mac_padded_to_128(), boost::test_tools::per_element());
  }
  device.reset();
  vf.reset();
  io.restart();
  io.poll();
}

BOOST_AUTO_TEST_SUITE_END()  // interface_standard_test
