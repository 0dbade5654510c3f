// Binding 2 with the PF on its own thread and 64 reads kept in flight, each completion starting the
// next: a VF that keeps to the protocol never gets STATUS_DEVICE_NOT_READY, and every answer arrives
// intact (a handler that starts a read while a received chunk is parsed must not disturb it).
#include <boost/test/unit_test.hpp>

#include <array>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include <vpci/vpci.hpp>

#include "../test_support.hpp"

BOOST_AUTO_TEST_SUITE(pipelined_messages_test)

using namespace vpci;
using socket_type = boost::asio::local::stream_protocol::socket;

BOOST_AUTO_TEST_CASE(sixty_four_in_flight_against_a_pf_thread_never_see_busy) {
  constexpr hyperv::wslot slot{2, 1};
  constexpr block_id block{3};
  boost::asio::io_context pf_io;
  boost::asio::io_context vf_io;
  socket_type pf_socket(pf_io);
  socket_type vf_socket(vf_io);
  boost::asio::local::connect_pair(pf_socket, vf_socket);

  pf_endpoint<2> pf;  // default limits: 64 in flight
  BOOST_REQUIRE(!pf.register_vf(0, 0x0101));
  std::array<std::byte, 128> contents{};
  for (std::size_t i = 0; i < contents.size(); ++i) contents[i] = static_cast<std::byte>(i);
  BOOST_REQUIRE(!pf.define_block(0, block, contents, block_access::read_only));
  boost::system::error_code served = make_error_code(errc::device_error);
  pf.async_serve(0, slot, pf_socket, [&](boost::system::error_code ec) { served = ec; });
  std::thread pf_thread([&] { pf_io.run(); });

  vf_message_endpoint<socket_type> vf(vf_socket, slot);
  constexpr std::size_t in_flight = 64;
  constexpr std::size_t total = 20000;
  std::array<std::array<std::byte, 128>, in_flight> buffers{};
  std::size_t started = 0;
  std::size_t completed = 0;
  std::size_t failures = 0;
  std::size_t wrong_bytes = 0;
  boost::system::error_code first_failure;
  std::function<void(std::size_t)> start = [&](std::size_t index) {
    ++started;
    vf.async_read_block(block, buffers[index], [&, index](boost::system::error_code ec, std::size_t n) {
      ++completed;
      if (ec || n != 128) {
        if (!first_failure) first_failure = ec;
        ++failures;
      } else if (buffers[index] != contents) {
        ++wrong_bytes;
      }
      if (started < total) start(index);
      else if (completed == total) vf.close();
    });
  };
  for (std::size_t i = 0; i < in_flight; ++i) start(i);
  vf_io.run();
  pf_thread.join();
  BOOST_TEST(completed == total);
  BOOST_TEST(failures == 0u, "first failure: " << first_failure.message());
  BOOST_TEST(wrong_bytes == 0u);
  BOOST_TEST(pf.blocks().counters(0).busy == 0u);
  BOOST_TEST(!served);
}

BOOST_AUTO_TEST_SUITE_END()  // pipelined_messages_test
